#!/usr/bin/env bash
# Usage: dev/venv.sh CKAN_VERSION        (e.g. 2.11.6 or 2.12.0)
#
# Makes sure a virtualenv with CKAN CKAN_VERSION, this extension (editable) and
# requirements-dev.txt exists, and prints its path as the LAST line of stdout.
# All progress output goes to stderr.
#
#   venv:  ${DGA_VENV_ROOT:-$HOME/.cache/dgaaccounts}/venv-<CKAN_VERSION>
#   python: ${DGA_PYTHON:-python3} (3.10+)
#
# CKAN is installed with its exact pins: pip install "ckan[requirements,dev]==<version>".
# The extension and the dev tools are then installed with the versions CKAN brought as
# constraints, so they can never move a CKAN pin (pip fails loudly instead).
# A stamp file (hash of setup.py + requirements-dev.txt + version + repo path) makes a
# second run a fast no-op.
set -euo pipefail

log() { printf '[venv] %s\n' "$*" >&2; }

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 CKAN_VERSION   (e.g. 2.11.6)" >&2
    exit 2
fi
CKAN_VERSION=$1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ROOT=${DGA_VENV_ROOT:-$HOME/.cache/dgaaccounts}
VENV=$ROOT/venv-$CKAN_VERSION
PYTHON=${DGA_PYTHON:-python3}
BASE_STAMP=$VENV/.dga-ckan-installed
STAMP=$VENV/.dga-stamp
CONSTRAINTS=$VENV/.dga-ckan-constraints.txt

want_hash() {
    {
        printf 'ckan=%s\nrepo=%s\n' "$CKAN_VERSION" "$REPO"
        cat "$REPO/setup.py" "$REPO/requirements-dev.txt"
    } | sha256sum | cut -d' ' -f1
}
WANT=$(want_hash)

# Fast path: everything already in place.
if [ -x "$VENV/bin/python" ] && [ -f "$BASE_STAMP" ] && [ -f "$STAMP" ] \
    && [ "$(cat "$STAMP")" = "$WANT" ]; then
    log "up to date: $VENV"
    echo "$VENV"
    exit 0
fi

# ---------------------------------------------------------------- base: CKAN
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$BASE_STAMP" ] \
    || [ "$(cat "$BASE_STAMP")" != "$CKAN_VERSION" ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
        log "$PYTHON is older than Python 3.10; set DGA_PYTHON"; exit 1; }
    # psycopg2 (pinned by CKAN) builds from source: needs pg_config and a compiler.
    if ! command -v pg_config >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1 \
        || ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        log "installing build prerequisites (libpq-dev, build-essential, python3-dev, python3-venv)"
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq >&2
        $SUDO apt-get install -y -qq --no-install-recommends \
            libpq-dev build-essential python3-dev python3-venv >&2
    fi
    log "creating $VENV with $("$PYTHON" --version 2>&1) and CKAN $CKAN_VERSION (takes a few minutes)"
    rm -rf "$VENV"
    mkdir -p "$ROOT"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q "ckan[requirements,dev]==$CKAN_VERSION" >&2
    "$VENV/bin/python" -m pip freeze --exclude-editable 2>/dev/null \
        | grep -v -E '^(-e |ckan(ext)?[-_]dgaaccounts)' >"$CONSTRAINTS"
    echo "$CKAN_VERSION" >"$BASE_STAMP"
    rm -f "$STAMP"
fi

# ---------------------------------------------------------------- extension + dev tools
if [ ! -f "$REPO/README.md" ]; then
    log "missing $REPO/README.md (setup.py reads it)"; exit 1
fi
log "installing ckanext-dgaaccounts (editable) and requirements-dev.txt into $VENV"
(
    cd "$REPO"
    "$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" \
        -e "$REPO" -r "$REPO/requirements-dev.txt" >&2
)
"$VENV/bin/python" -m pip check >&2 || { log "pip check failed in $VENV"; exit 1; }
"$VENV/bin/python" - <<'EOF' >&2
import ckan, ckanext.dgaaccounts  # noqa: F401
print(f"[venv] ok: ckan {ckan.__version__}, ckanext.dgaaccounts from {ckanext.dgaaccounts.__path__[0]}")
EOF
echo "$WANT" >"$STAMP"
echo "$VENV"
