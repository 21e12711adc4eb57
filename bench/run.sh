#!/usr/bin/env bash
# The benchmark, in one command:  bench/run.sh  [--quick]
#
# Starts, all on 127.0.0.1 and all its own (nothing of dev/up.sh is touched):
#   * PostgreSQL and Redis via dev/services.sh; fresh databases dgaaccounts_bench and
#     dgaaccounts_bench_1k (role dgaaccounts), each with `ckan db init` +
#     `ckan db upgrade -p dgaaccounts` and benchmark accounts (bench/seed.py); Redis dbs 14, 13;
#   * the Solr stand-in (tests/solr_stub.py), an SMTP sink writing to var/bench/mail/
#     (bench/mailsink.py), a `ckan jobs worker`;
#   * TWO gunicorn servers on the same database, 2 worker processes x 4 threads each, the way
#     the README runs CKAN but multi-process: one with ckan.plugins = dgaaccounts, one stock
#     (ckan.plugins empty), and a THIRD one with the plugin on a second database,
#     dgaaccounts_bench_1k, so that the queue at 1,000 and at 100,000 requests is timed side by
#     side. Their configs are generated from bench/bench.ini.in into var/bench/. Each server has its
#     own ckan.storage_path (var/bench/storage, storage-stock, storage-1k): CKAN writes there
#     when a process starts (js translations, webassets), and processes of two servers starting
#     at once on one path race; ports come from below the ephemeral range.
# Then bench/driver.py loads generated data, runs the five measurements and writes
# bench/RESULTS.md. Everything it started is stopped on exit. Logs: var/bench/logs/.
#
#   CKAN_VERSION=2.12.0 bench/run.sh     another CKAN (default 2.11.6)
#   bench/run.sh --quick                 fewer iterations (a smoke run, ~3 minutes)
#   DGA_BENCH_HOLD=1 bench/run.sh        keep everything running afterwards, until Ctrl-C
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
CKAN_VERSION=${CKAN_VERSION:-2.11.6}
WORK=$REPO/var/bench
LOGS=$WORK/logs
DB=dgaaccounts_bench
DB_1K=dgaaccounts_bench_1k
DB_ROLE=dgaaccounts
DB_PASSWORD=dgaaccounts
DB_URL=postgresql://$DB_ROLE:$DB_PASSWORD@127.0.0.1:5432/$DB
DB_1K_URL=postgresql://$DB_ROLE:$DB_PASSWORD@127.0.0.1:5432/$DB_1K
REDIS_DB=${DGA_BENCH_REDIS_DB:-14}
REDIS_DB_1K=${DGA_BENCH_REDIS_DB_1K:-13}
STUB=$REPO/ckanext-dgaaccounts/ckanext/dgaaccounts/tests/solr_stub.py
WORKERS=${DGA_BENCH_WORKERS:-2}
THREADS=${DGA_BENCH_THREADS:-4}

log() { printf '[bench] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- stop what we start, always
PIDS=()
cleanup() {
    local pid i alive
    [ ${#PIDS[@]} -eq 0 ] && return 0
    log "stopping ${#PIDS[@]} processes started by this run"
    # Each was started in its own session: its pid is its process group, which takes
    # gunicorn's workers and the jobs worker's forked jobs with it.
    for pid in "${PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for ((i = 0; i < 40; i++)); do
        alive=""
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break
        sleep 0.25
    done
    for pid in "${PIDS[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() {  # start NAME COMMAND...  (own session, log in var/bench/logs/NAME.log)
    local name=$1; shift
    setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
    PIDS+=("$!")
    eval "PID_${name//-/_}=$!"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # wait_port NAME PID PORT SECONDS
    local name=$1 pid=$2 port=$3 secs=$4 i
    for ((i = 0; i < secs * 4; i++)); do
        port_open "$port" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    log "$name did not open port $port; last lines of var/bench/logs/$name.log:"
    tail -n 30 "$LOGS/$name.log" >&2
    exit 1
}

wait_http() {  # wait_http NAME PID URL SECONDS
    local name=$1 pid=$2 url=$3 secs=$4 i
    for ((i = 0; i < secs * 2; i++)); do
        curl -fsS -o /dev/null --max-time 10 "$url" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    log "$name does not answer $url; last lines of var/bench/logs/$name.log:"
    tail -n 40 "$LOGS/$name.log" >&2
    exit 1
}

# ---------------------------------------------------------------- services and virtualenv
"$REPO/dev/services.sh"
VENV=$("$REPO/dev/venv.sh" "$CKAN_VERSION" | tail -n 1)
if [ ! -x "$VENV/bin/gunicorn" ]; then
    log "installing gunicorn into $VENV"
    if [ -f "$VENV/.dga-ckan-constraints.txt" ]; then
        "$VENV/bin/python" -m pip install -q -c "$VENV/.dga-ckan-constraints.txt" gunicorn >&2
    else
        "$VENV/bin/python" -m pip install -q gunicorn >&2
    fi
fi
PY=$VENV/bin/python

rm -rf "$WORK"
mkdir -p "$LOGS" "$WORK/storage" "$WORK/storage-stock" "$WORK/storage-1k" "$WORK/mail"

# ---------------------------------------------------------------- a fresh database, Redis db
# Superuser psql as in dev/services.sh: the postgres OS user over the socket, else TCP.
psql_admin() {
    if [ "$(id -u)" -eq 0 ] && runuser -u postgres -- psql -XAtq -c 'select 1' >/dev/null 2>&1; then
        runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n -u postgres psql -XAtq -c 'select 1' >/dev/null 2>&1; then
        sudo -n -u postgres psql -XAtq -v ON_ERROR_STOP=1 "$@"
    else
        psql -w -h 127.0.0.1 -U postgres -XAtq -v ON_ERROR_STOP=1 "$@"
    fi
}
for db in "$DB" "$DB_1K"; do
    log "fresh database $db (owner $DB_ROLE)"
    psql_admin -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    psql_admin -d postgres -c "CREATE DATABASE $db OWNER $DB_ROLE ENCODING 'UTF8' TEMPLATE template0" >/dev/null
done
redis-cli -h 127.0.0.1 -n "$REDIS_DB" flushdb >/dev/null
redis-cli -h 127.0.0.1 -n "$REDIS_DB_1K" flushdb >/dev/null

# ---------------------------------------------------------------- ports and configurations
# Ports below the kernel's ephemeral range (bench/ports.py says why).
read -r SOLR_PORT SMTP_PORT EXT_PORT STOCK_PORT EXT1K_PORT < <("$PY" "$REPO/bench/ports.py" 5)

make_ini() {  # make_ini OUT PORT PLUGINS DB_URL SITE_ID REDIS_DB STORAGE
    sed -e "s|@SITE_URL@|http://127.0.0.1:$2|" -e "s|@PLUGINS@|$3|" -e "s|@DB_URL@|$4|" \
        -e "s|@SITE_ID@|$5|" -e "s|@REDIS_URL@|redis://127.0.0.1:6379/$6|" -e "s|@STORAGE@|$7|" \
        -e "s|@SOLR_URL@|http://127.0.0.1:$SOLR_PORT/solr/ckan|" \
        -e "s|@SMTP_PORT@|$SMTP_PORT|" "$REPO/bench/bench.ini.in" >"$1"
}
make_ini "$WORK/ext.ini" "$EXT_PORT" dgaaccounts "$DB_URL" dgaaccounts_bench "$REDIS_DB" \
    "$WORK/storage"
make_ini "$WORK/stock.ini" "$STOCK_PORT" "" "$DB_URL" dgaaccounts_bench "$REDIS_DB" \
    "$WORK/storage-stock"
make_ini "$WORK/ext-1k.ini" "$EXT1K_PORT" dgaaccounts "$DB_1K_URL" dgaaccounts_bench_1k \
    "$REDIS_DB_1K" "$WORK/storage-1k"

start solr-stub "$PY" "$STUB" --host 127.0.0.1 --port "$SOLR_PORT"
start mailsink "$PY" "$REPO/bench/mailsink.py" --port "$SMTP_PORT" --dir "$WORK/mail"
wait_port solr-stub "$PID_solr_stub" "$SOLR_PORT" 20
wait_port mailsink "$PID_mailsink" "$SMTP_PORT" 20

log "ckan db init, db upgrade -p dgaaccounts, benchmark accounts (CKAN $CKAN_VERSION)"
for ini in ext ext-1k; do
    { "$VENV/bin/ckan" -c "$WORK/$ini.ini" db init \
        && "$VENV/bin/ckan" -c "$WORK/$ini.ini" db upgrade -p dgaaccounts; } >"$LOGS/db-$ini.log" 2>&1 \
        || { tail -n 40 "$LOGS/db-$ini.log" >&2; exit 1; }
    "$PY" "$REPO/bench/seed.py" "$WORK/$ini.ini" >"$WORK/seed-$ini.json" 2>"$LOGS/seed-$ini.log" \
        || { tail -n 40 "$LOGS/seed-$ini.log" >&2; exit 1; }
done

# ---------------------------------------------------------------- jobs worker, two servers
start worker "$VENV/bin/ckan" -c "$WORK/ext.ini" jobs worker
gunicorn_args=(--pythonpath "$REPO/bench" --workers "$WORKERS" --worker-class gthread
               --threads "$THREADS" --timeout 120 --graceful-timeout 5 --log-level warning
               wsgi:application)
start gunicorn-ext env CKAN_INI="$WORK/ext.ini" "$VENV/bin/gunicorn" \
    --bind "127.0.0.1:$EXT_PORT" "${gunicorn_args[@]}"
start gunicorn-stock env CKAN_INI="$WORK/stock.ini" "$VENV/bin/gunicorn" \
    --bind "127.0.0.1:$STOCK_PORT" "${gunicorn_args[@]}"
start gunicorn-ext-1k env CKAN_INI="$WORK/ext-1k.ini" "$VENV/bin/gunicorn" \
    --bind "127.0.0.1:$EXT1K_PORT" "${gunicorn_args[@]}"
log "waiting for the three servers ($WORKERS workers x $THREADS threads each)"
wait_http gunicorn-ext "$PID_gunicorn_ext" "http://127.0.0.1:$EXT_PORT/api/3/action/status_show" 240
wait_http gunicorn-stock "$PID_gunicorn_stock" "http://127.0.0.1:$STOCK_PORT/api/3/action/status_show" 240
wait_http gunicorn-ext-1k "$PID_gunicorn_ext_1k" "http://127.0.0.1:$EXT1K_PORT/api/3/action/status_show" 240
kill -0 "$PID_worker" 2>/dev/null || { log "the jobs worker exited"; tail -n 20 "$LOGS/worker.log" >&2; exit 1; }

# ---------------------------------------------------------------- the measurements
"$PY" "$REPO/bench/driver.py" \
    --ext-url "http://127.0.0.1:$EXT_PORT" --stock-url "http://127.0.0.1:$STOCK_PORT" \
    --ext-pid "$PID_gunicorn_ext" --stock-pid "$PID_gunicorn_stock" \
    --ext-ini "$WORK/ext.ini" --db-url "$DB_URL" --work "$WORK" \
    --ext1k-url "http://127.0.0.1:$EXT1K_PORT" --db1k-url "$DB_1K_URL" \
    --threads "$THREADS" --server-desc "gunicorn, $WORKERS worker processes x $THREADS threads (gthread) per server" \
    --out "$REPO/bench/RESULTS.md" "$@"
log "done: bench/RESULTS.md"
if [ "${DGA_BENCH_HOLD:-0}" = 1 ]; then
    log "DGA_BENCH_HOLD=1: servers kept up until Ctrl-C: plugin http://127.0.0.1:$EXT_PORT," \
        "stock http://127.0.0.1:$STOCK_PORT , plugin on 1k requests http://127.0.0.1:$EXT1K_PORT (configs, seed-*.json in var/bench/)"
    while :; do sleep 3600 & wait $!; done
fi
