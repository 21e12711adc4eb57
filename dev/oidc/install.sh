#!/usr/bin/env bash
# Installs the development/test OpenID Provider (panva's oidc-provider, exact version in
# dev/oidc/package-lock.json) with `npm ci` into ${DGA_OIDC_DIR:-<repo>/var/oidc} and prints
# the node_modules path as the LAST line of stdout. Idempotent: a stamp (hash of the lock
# file and the Node major version) makes a second run a no-op. Node and npm come from
# Debian's nodejs/npm packages (installed with apt-get when missing).
set -euo pipefail

log() { printf '[oidc] %s\n' "$*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
SRC=$REPO/dev/oidc
DIR=${DGA_OIDC_DIR:-$REPO/var/oidc}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "installing Debian's nodejs and npm"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >&2
fi

WANT=$( { cat "$SRC/package-lock.json"; node -p 'process.versions.node.split(".")[0]'; } \
    | sha256sum | cut -d' ' -f1)
if [ -f "$DIR/.dga-stamp" ] && [ "$(cat "$DIR/.dga-stamp")" = "$WANT" ] \
    && [ -d "$DIR/node_modules/oidc-provider" ]; then
    echo "$DIR/node_modules"
    exit 0
fi
log "npm ci (oidc-provider) into $DIR"
mkdir -p "$DIR"
cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
(cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
echo "$WANT" >"$DIR/.dga-stamp"
echo "$DIR/node_modules"
