#!/usr/bin/env bash
# Stop what dev/up.sh started (web server, jobs worker, mail catcher, Solr stand-in),
# by the PIDs it recorded in var/run/. PostgreSQL and Redis are left running.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
RUN=$REPO/var/run

log() { printf '[down] %s\n' "$*" >&2; }

stop() {
    local name=$1 pidfile=$RUN/$1.pid pid i
    if [ ! -f "$pidfile" ]; then
        log "$name: not started by dev/up.sh"; return 0
    fi
    pid=$(cat "$pidfile")
    if ! kill -0 "$pid" 2>/dev/null; then
        log "$name: not running"; rm -f "$pidfile"; return 0
    fi
    # up.sh starts each one in its own session, so its pid is also its process group id:
    # signal the group to take any child processes (e.g. a worker's forked job) with it.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: still running after 10s, sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    log "$name: stopped (pid $pid)"
}

for name in ckan worker maildump solr-stub oidc-digitalid; do
    stop "$name"
done
