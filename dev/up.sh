#!/usr/bin/env bash
# Bring up a local, RUNNING development portal in the background, then return:
#
#   * PostgreSQL + Redis (dev/services.sh), venv for CKAN ${CKAN_VERSION:-2.11.6} (dev/venv.sh)
#   * Solr stand-in on 127.0.0.1:8983 (tests/solr_stub.py; development only -- production
#     uses real Solr, see docker-compose.yml)
#   * maildump mail catcher: SMTP 127.0.0.1:1025, web UI + REST API http://127.0.0.1:1080
#   * database dgaaccounts_dev: ckan db init + ckan db upgrade -p dgaaccounts
#   * sysadmin "admin" and demo organizations (dev/demo_data.py, idempotent)
#   * a jobs worker and the CKAN web server on http://127.0.0.1:5000
#
# PIDs and logs: var/run/. Stop with dev/down.sh. Running it again restarts nothing that
# is already running. Everything binds to 127.0.0.1 only.
#
# DGA_RESET_DEV_DB=1 dev/up.sh  empties dgaaccounts_dev and var/dev-storage first (needed
# e.g. to go back to CKAN 2.11 after the dev database was upgraded by CKAN 2.12).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
CKAN_VERSION=${CKAN_VERSION:-2.11.6}
INI=$REPO/dev/development.ini
RUN=$REPO/var/run
STUB=$REPO/ckanext-dgaaccounts/ckanext/dgaaccounts/tests/solr_stub.py
ADMIN_PASSWORD=${DGA_ADMIN_PASSWORD:-Demo-Admin-2026!}
export DGA_ADMIN_PASSWORD=$ADMIN_PASSWORD

log() { printf '[up] %s\n' "$*" >&2; }

mkdir -p "$RUN" "$REPO/var/dev-storage"

"$REPO/dev/services.sh"
VENV=$("$REPO/dev/venv.sh" "$CKAN_VERSION" | tail -n 1)
CKAN=("$VENV/bin/ckan" -c "$INI")

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() {  # running NAME -> 0 if var/run/NAME.pid names a live process
    local pidfile=$RUN/$1.pid
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

wait_port() {  # wait_port NAME PORT SECONDS
    local name=$1 port=$2 secs=$3 i
    for ((i = 0; i < secs * 4; i++)); do
        port_busy "$port" && return 0
        running "$name" || { log "$name exited; see $RUN/$name.log:"; tail -n 30 "$RUN/$name.log" >&2; return 1; }
        sleep 0.25
    done
    log "$name did not open port $port in ${secs}s; see $RUN/$name.log"; return 1
}

start() {  # start NAME PORT(or -) COMMAND...
    local name=$1 port=$2; shift 2
    if running "$name"; then
        log "$name already running (pid $(cat "$RUN/$name.pid"))"; return 0
    fi
    if [ "$port" != - ] && port_busy "$port"; then
        log "port 127.0.0.1:$port is taken by another program; cannot start $name"; return 1
    fi
    # Own session (setsid): dev/down.sh stops the whole process group by this pid.
    setsid nohup "$@" >>"$RUN/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/$name.pid"
    log "started $name (pid $!, log var/run/$name.log)"
}

# ---------------------------------------------------------------- Solr stand-in, mail catcher
start solr-stub 8983 "$VENV/bin/python" "$STUB" --host 127.0.0.1 --port 8983
wait_port solr-stub 8983 20
start maildump 1080 "$VENV/bin/maildump" --foreground --no-quit \
    --smtp-ip 127.0.0.1 --smtp-port 1025 --http-ip 127.0.0.1 --http-port 1080 \
    --db "$REPO/var/maildump.sqlite"
wait_port maildump 1080 30
wait_port maildump 1025 10

# ---------------------------------------------------------------- demo OpenID Provider
# A Digital-ID-like issuer (oidc-provider, dev/oidc/demo-digitalid.json) with two demo
# identities: sign in at it with login "somchai" or "malee" and any password.
OIDC_MODULES=$("$REPO/dev/oidc/install.sh" | tail -n 1)
start oidc-digitalid 8765 env DGA_OIDC_NODE_MODULES="$OIDC_MODULES" \
    node "$REPO/dev/oidc/provider.mjs" "$REPO/dev/oidc/demo-digitalid.json"
wait_port oidc-digitalid 8765 60

# ---------------------------------------------------------------- database and demo data
if [ "${DGA_RESET_DEV_DB:-0}" = 1 ]; then
    if running ckan || running worker; then
        log "DGA_RESET_DEV_DB=1: stop the running portal first (dev/down.sh)"; exit 1
    fi
    log "DGA_RESET_DEV_DB=1: emptying database dgaaccounts_dev and var/dev-storage"
    PGOPTIONS='--client-min-messages=warning' PGPASSWORD=dgaaccounts \
        psql -w -XqAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -U dgaaccounts \
        -d dgaaccounts_dev -c 'DROP SCHEMA IF EXISTS public CASCADE' -c 'CREATE SCHEMA public' \
        >/dev/null
    rm -rf "$REPO/var/dev-storage" && mkdir -p "$REPO/var/dev-storage"
fi
log "ckan db init / db upgrade -p dgaaccounts (dgaaccounts_dev)"
db_failed() {
    tail -n 40 "$RUN/db.log" >&2
    log "database set-up failed (log: var/run/db.log). If dgaaccounts_dev was upgraded by a"
    log "newer CKAN version ('Can't locate revision'), run: DGA_RESET_DEV_DB=1 dev/up.sh"
    exit 1
}
"${CKAN[@]}" db init >>"$RUN/db.log" 2>&1 || db_failed
"${CKAN[@]}" db upgrade -p dgaaccounts >>"$RUN/db.log" 2>&1 || db_failed
log "demo data (sysadmin admin, organizations)"
"$VENV/bin/python" "$REPO/dev/demo_data.py" "$INI" 2>>"$RUN/demo_data.log" \
    || { tail -n 40 "$RUN/demo_data.log" >&2; exit 1; }
grep '^\[demo\]' "$RUN/demo_data.log" | tail -n 5 >&2 || true
log "demo CA and two demo signers (var/demo-ca; dev/demo_ca.py sign FORM.pdf SIGNED.pdf)"
"$VENV/bin/python" "$REPO/dev/demo_ca.py" init >&2

# ---------------------------------------------------------------- worker and web server
start worker - "${CKAN[@]}" jobs worker
start ckan 5000 "${CKAN[@]}" run --host 127.0.0.1 --port 5000 --disable-reloader --threaded

log "waiting for http://127.0.0.1:5000/api/3/action/status_show"
ok=""
for _ in $(seq 1 240); do
    if curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:5000/api/3/action/status_show 2>/dev/null; then
        ok=1; break
    fi
    running ckan || break
    sleep 0.5
done
if [ -z "$ok" ]; then
    log "CKAN did not come up; last lines of var/run/ckan.log:"
    tail -n 40 "$RUN/ckan.log" >&2
    exit 1
fi
running worker || { log "the jobs worker exited; see var/run/worker.log"; tail -n 20 "$RUN/worker.log" >&2; exit 1; }

cat <<EOF

CKAN $CKAN_VERSION with ckanext-dgaaccounts is running (all on 127.0.0.1):

  Portal:        http://127.0.0.1:5000
  API:           http://127.0.0.1:5000/api/3/action/status_show
  Mail catcher:  http://127.0.0.1:1080   (maildump; SMTP 127.0.0.1:1025;
                 REST API: http://127.0.0.1:1080/messages/ , /messages/<id>.plain)
  Solr:          http://127.0.0.1:8983/solr/ckan  (development stand-in, searches find nothing)
  Digital ID:    http://127.0.0.1:8765  (demo OpenID Provider; "Sign in with Digital ID",
                 login somchai or malee, any password)

  Sysadmin:      admin / $ADMIN_PASSWORD   (admin@example.go.th)

  Config: dev/development.ini   Logs and PIDs: var/run/   Stop: dev/down.sh
EOF
