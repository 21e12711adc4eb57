#!/usr/bin/env bash
# Run the whole test suite, once per CKAN version.
#
#   dev/test.sh                      # CKAN 2.11.6 and 2.12.0
#   CKAN_VERSIONS=2.12.0 dev/test.sh -k token -x     # extra args go to pytest
#
# For each version: dev/venv.sh makes/reuses the venv, the test database
# (dgaaccounts_test) is emptied, `ckan db init` and `ckan db upgrade -p dgaaccounts`
# build it, then `python -m pytest --ckan-ini=test.ini "$@"` runs from the repo root.
# Services (PostgreSQL, Redis, Chromium, pdftotext) come from dev/services.sh; Solr is
# the loopback stand-in tests/solr_stub.py (development/tests only; production uses Solr).
# All versions run; exits non-zero if any failed.
#
# DGA_TEST_DB=<name> uses another (existing, owned by role dgaaccounts) database than
# dgaaccounts_test, e.g. to run two checkouts at once; it is passed to CKAN and the
# tests as CKAN_SQLALCHEMY_URL. Set CKAN_REDIS_URL likewise for another Redis db.
#
# DGA_TEST_WORKERS=<n> (default 2; 0 = one process) runs pytest on n processes
# (pytest-xdist, --dist loadgroup: the `stress` tests stay together on one). Worker N uses
# the database <db>_gwN (dev/services.sh creates them, this script copies the migrated
# schema into them), the Redis db of CKAN_REDIS_URL (or test.ini's) + N, and its own
# ckan.storage_path; the test conftest sets these.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
VERSIONS=${CKAN_VERSIONS:-2.11.6 2.12.0}
STUB=$REPO/ckanext-dgaaccounts/ckanext/dgaaccounts/tests/solr_stub.py
TEST_DB=${DGA_TEST_DB:-dgaaccounts_test}
if [ "$TEST_DB" != dgaaccounts_test ]; then
    export CKAN_SQLALCHEMY_URL="postgresql://dgaaccounts:dgaaccounts@127.0.0.1:5432/$TEST_DB"
fi
WORKERS=${DGA_TEST_WORKERS:-2}
export DGA_TEST_WORKERS=$WORKERS  # dev/services.sh creates the workers' databases

log() { printf '[test] %s\n' "$*" >&2; }

"$REPO/dev/services.sh"

mkdir -p "$REPO/var/run" "$REPO/var/test-storage"

# The OpenID Provider of the sign-in tests (oidc-provider on Node, npm ci into var/oidc).
"$REPO/dev/oidc/install.sh" >/dev/null || { log "dev/oidc/install.sh failed"; exit 1; }

# ---------------------------------------------------------------- Solr stand-in
STUB_PID=""
cleanup() {
    if [ -n "$STUB_PID" ] && kill -0 "$STUB_PID" 2>/dev/null; then
        kill "$STUB_PID" 2>/dev/null || true
        wait "$STUB_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STUB_OUT=$(mktemp "$REPO/var/run/test-solr-stub.XXXXXX")
python3 "$STUB" --port 0 >"$STUB_OUT" 2>&1 &
STUB_PID=$!
for _ in $(seq 1 100); do
    grep -q 'solr_url = ' "$STUB_OUT" 2>/dev/null && break
    kill -0 "$STUB_PID" 2>/dev/null || break
    sleep 0.1
done
CKAN_SOLR_URL=$(sed -n 's/.*solr_url = \(http[^ ]*\).*/\1/p' "$STUB_OUT" | head -n 1)
rm -f "$STUB_OUT"
if [ -z "$CKAN_SOLR_URL" ]; then
    log "the Solr stand-in did not start"; exit 1
fi
export CKAN_SOLR_URL
log "Solr stand-in (dev/test only) at $CKAN_SOLR_URL"

# ---------------------------------------------------------------- per version
reset_test_db() {
    # Each CKAN version has its own migration history: start from an empty schema.
    local db=${1:-$TEST_DB}
    PGOPTIONS='--client-min-messages=warning' PGPASSWORD=dgaaccounts \
        psql -w -XqAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -U dgaaccounts \
        -d "$db" -c 'DROP SCHEMA IF EXISTS public CASCADE' -c 'CREATE SCHEMA public' \
        >/dev/null
}

copy_to_workers() {
    # The migrated (empty) database, copied into each xdist worker's: seconds, where
    # migrating each one again would take a minute.
    local n
    for ((n = 0; n < WORKERS; n++)); do
        reset_test_db "${TEST_DB}_gw$n" || return 1
        PGPASSWORD=dgaaccounts pg_dump -w -h 127.0.0.1 -U dgaaccounts --no-owner \
            --no-privileges "$TEST_DB" \
            | PGOPTIONS='--client-min-messages=warning' PGPASSWORD=dgaaccounts \
                psql -w -XqAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -U dgaaccounts \
                -d "${TEST_DB}_gw$n" >/dev/null || return 1
    done
}

run_version() {
    local version=$1; shift
    local venv
    venv=$("$REPO/dev/venv.sh" "$version" | tail -n 1) || return 1
    [ -x "$venv/bin/ckan" ] || { log "no ckan in $venv"; return 1; }
    export VIRTUAL_ENV=$venv
    export PATH="$venv/bin:$ORIG_PATH"
    reset_test_db || return 1
    log "CKAN $version: ckan db init"
    "$venv/bin/ckan" -c "$REPO/test.ini" db init || return 1
    log "CKAN $version: ckan db upgrade -p dgaaccounts"
    "$venv/bin/ckan" -c "$REPO/test.ini" db upgrade -p dgaaccounts || return 1
    local -a parallel=()
    if [ "$WORKERS" -gt 0 ]; then
        log "CKAN $version: copy the schema to $WORKERS worker databases (${TEST_DB}_gw*)"
        copy_to_workers || return 1
        parallel=(-n "$WORKERS" --dist loadgroup)
    fi
    log "CKAN $version: pytest ${parallel[*]} $*"
    # pytest keeps the modules it rewrites for its assertion messages as .pyc files (CKAN is a
    # pytest plugin: ~290 modules of ckan, hypothesis, faker...). With PYTHONDONTWRITEBYTECODE
    # set, every test process would rewrite them all again (6 s of CPU each).
    env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -m pytest --ckan-ini=test.ini \
        "${parallel[@]}" "$@"
}

ORIG_PATH=$PATH
declare -a SUMMARY=()
FAILED=0
for version in $VERSIONS; do
    printf '\n========== CKAN %s ==========\n' "$version"
    rc=0
    run_version "$version" "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
        SUMMARY+=("CKAN $version: OK")
    else
        SUMMARY+=("CKAN $version: FAILED (exit $rc)")
        FAILED=1
    fi
done

printf '\n========== summary ==========\n'
for line in "${SUMMARY[@]}"; do printf '%s\n' "$line"; done
exit "$FAILED"
