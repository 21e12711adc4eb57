#!/usr/bin/env bash
# Ensure the local services the tests and the dev stack need (Debian 12, run as root):
#   * PostgreSQL (any installed major version, cluster "main", loopback only)
#     with role dgaaccounts/dgaaccounts and databases dgaaccounts_test, dgaaccounts_dev;
#   * Redis on 127.0.0.1:6379;
#   * chromium (headless browser for Playwright, used via executable_path=/usr/bin/chromium;
#     never `playwright install`), fonts-thai-tlwg (so pages with Thai text render, e.g. in
#     screenshots) and poppler-utils (pdftotext).
# Idempotent; skips apt-get entirely when everything is already installed.
# Solr is NOT handled here: dev/test runs use the loopback stand-in
# ckanext-dgaaccounts/ckanext/dgaaccounts/tests/solr_stub.py; production uses real Solr.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }

# Overridable only to exercise this script against a scratch cluster / Redis port;
# the configs (test.ini, dev/development.ini) expect "main" on 5432 and Redis on 6379.
PG_CLUSTER=${DGA_PG_CLUSTER:-main}
REDIS_PORT=${DGA_REDIS_PORT:-6379}
DB_ROLE=dgaaccounts
DB_PASSWORD=dgaaccounts
DATABASES=(dgaaccounts_test dgaaccounts_dev)
# dev/test.sh's parallel workers: <test db>_gw0, _gw1, ... (DGA_TEST_WORKERS, default 2)
TEST_DB=${DGA_TEST_DB:-dgaaccounts_test}
for ((n = 0; n < ${DGA_TEST_WORKERS:-2}; n++)); do DATABASES+=("${TEST_DB}_gw$n"); done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        log "must run as root (or with sudo available)"; exit 1
    fi
fi

# ---------------------------------------------------------------- packages
pg_bin_present() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

missing=()
{ pg_bin_present && command -v pg_ctlcluster >/dev/null && command -v psql >/dev/null; } \
    || missing+=(postgresql)
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
dpkg-query -W -f='${Status}' fonts-thai-tlwg 2>/dev/null | grep -q 'ok installed' \
    || missing+=(fonts-thai-tlwg)

if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2
    $SUDO apt-get install -y -qq "${missing[@]}" >&2
else
    log "packages present (postgresql, redis-server, chromium, fonts-thai-tlwg, poppler-utils)"
fi

# ---------------------------------------------------------------- PostgreSQL
PG_VERSION=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$PG_VERSION $PG_CLUSTER"; then
    log "creating PostgreSQL $PG_VERSION cluster '$PG_CLUSTER'"
    $SUDO pg_createcluster --locale C.UTF-8 "$PG_VERSION" "$PG_CLUSTER" >&2
fi
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {print $4}' \
    | grep -q online; then
    log "starting PostgreSQL $PG_VERSION/$PG_CLUSTER"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start >&2
fi
PG_PORT=$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {print $3}')
if [ "$PG_PORT" != "5432" ]; then
    log "WARNING: PostgreSQL $PG_VERSION/$PG_CLUSTER listens on port $PG_PORT, the configs expect 5432"
fi
for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || { log "PostgreSQL does not answer on 127.0.0.1:$PG_PORT"; exit 1; }

# Superuser psql: the unix socket as the postgres OS user works for both peer (fresh
# Debian) and trust auth; fall back to TCP as postgres (trust setups).
psql_admin() {
    if [ "$(id -u)" -eq 0 ] && runuser -u postgres -- psql -p "$PG_PORT" -XAtq -c 'select 1' >/dev/null 2>&1; then
        runuser -u postgres -- psql -p "$PG_PORT" -XAtq -v ON_ERROR_STOP=1 "$@"
    elif [ -n "$SUDO" ] && sudo -u postgres psql -p "$PG_PORT" -XAtq -c 'select 1' >/dev/null 2>&1; then
        sudo -u postgres psql -p "$PG_PORT" -XAtq -v ON_ERROR_STOP=1 "$@"
    else
        psql -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -XAtq -v ON_ERROR_STOP=1 "$@"
    fi
}

if [ "$(psql_admin -d postgres -c "select 1 from pg_roles where rolname = '$DB_ROLE'")" != "1" ]; then
    log "creating role $DB_ROLE"
    psql_admin -d postgres -c "CREATE ROLE $DB_ROLE LOGIN PASSWORD '$DB_PASSWORD'" >&2 \
        || [ "$(psql_admin -d postgres -c "select 1 from pg_roles where rolname = '$DB_ROLE'")" = "1" ]
else
    # Keep the password known even if the role pre-existed with another one.
    psql_admin -d postgres -c "ALTER ROLE $DB_ROLE LOGIN PASSWORD '$DB_PASSWORD'" >/dev/null
fi
for db in "${DATABASES[@]}"; do
    if [ "$(psql_admin -d postgres -c "select 1 from pg_database where datname = '$db'")" != "1" ]; then
        log "creating database $db"
        psql_admin -d postgres -c "CREATE DATABASE $db OWNER $DB_ROLE ENCODING 'UTF8' TEMPLATE template0" >&2 \
            || psql_admin -d postgres -c "CREATE DATABASE $db OWNER $DB_ROLE ENCODING 'UTF8' LOCALE 'C.UTF-8' TEMPLATE template0" >&2 \
            || [ "$(psql_admin -d postgres -c "select 1 from pg_database where datname = '$db'")" = "1" ]
    fi
done
# The password login over TCP is what CKAN uses: check it.
if ! PGPASSWORD=$DB_PASSWORD psql -w -h 127.0.0.1 -p "$PG_PORT" -U "$DB_ROLE" -d dgaaccounts_test -XAtqc 'select 1' >/dev/null; then
    log "cannot log in as $DB_ROLE on 127.0.0.1:$PG_PORT (check pg_hba.conf)"; exit 1
fi
log "PostgreSQL $PG_VERSION ready on 127.0.0.1:$PG_PORT (role $DB_ROLE, dbs: ${DATABASES[*]})"

# ---------------------------------------------------------------- Redis
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null || true)" = "PONG" ]; }
if ! redis_up; then
    log "starting redis-server on 127.0.0.1:$REDIS_PORT"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
        >&2
    for _ in $(seq 1 40); do
        redis_up && break
        sleep 0.25
    done
fi
redis_up || { log "Redis does not answer on 127.0.0.1:$REDIS_PORT"; exit 1; }
log "Redis ready on 127.0.0.1:$REDIS_PORT"
