#!/usr/bin/env python3
"""Overhead of per-token counting and limits on a token-authenticated API call (issue 17).

    CKAN_SQLALCHEMY_URL=postgresql://...  CKAN_REDIS_URL=redis://127.0.0.1:6379/N \\
        python bench/token_limits.py test.ini [calls_per_side]

The database must have the plugin's migrations (``dev/test.sh`` leaves the test database so).
One process, one CKAN app, real PostgreSQL and Redis, one run: the same call is served with
``ckanext.dgaaccounts.token_limits_enabled`` on and off (read per call), alternating call by
call in an on-off-off-on pattern, so both sides see the same machine load and the same drift.
With limits off the token is still checked (the refusals of expired or revoked tokens are not
part of the limits); what the ratio measures is the counting and the limit.

Prints, per call: the median wall time of each side and their ratio (the target is at most
1.03), the median CPU time of this process per call (``time.process_time``, which a busy
machine disturbs less than the wall clock), and the load average before and after: on a
shared machine, quote the figure with the load it was measured at.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid

from ckan.cli import load_config
from ckan.config.middleware import make_app
from werkzeug.test import Client

KEY = "ckanext.dgaaccounts.token_limits_enabled"
PATTERN = (True, False, False, True)  # ABBA: a linear drift weighs on both sides alike


def _setup(app) -> tuple[str, str]:
    from ckan.plugins import toolkit as tk

    with app._wsgi_app.test_request_context():
        name = "bench_" + uuid.uuid4().hex[:10]
        tk.get_action("user_create")({"ignore_auth": True}, {
            "name": name, "email": f"{name}@example.com", "password": "Bench-Passw0rd-1"})
        token = tk.get_action("api_token_create")(
            {"user": name, "ignore_auth": True}, {"user": name, "name": "bench"})["token"]
    return name, token


def _measure(client: Client, path: str, query: dict, token: str, config,
             calls: int) -> dict[bool, dict[str, list[float]]]:
    times: dict[bool, dict[str, list[float]]] = {
        side: {"wall": [], "cpu": []} for side in (True, False)}
    for i in range(calls * 2):
        side = PATTERN[i % len(PATTERN)]
        config[KEY] = side
        cpu, start = time.process_time(), time.perf_counter()
        resp = client.get(path, query_string=query, headers={"Authorization": token})
        times[side]["wall"].append(time.perf_counter() - start)
        times[side]["cpu"].append(time.process_time() - cpu)
        if resp.status_code != 200:
            raise SystemExit(f"{path}: HTTP {resp.status_code} {resp.get_data()[:200]}")
        if side != ("X-RateLimit-Limit" in resp.headers):
            raise SystemExit("limits did not switch")
    config[KEY] = True
    return times


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 3)


def main() -> None:
    from ckan.common import config

    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    app = make_app(load_config(sys.argv[1]))
    config["ckanext.dgaaccounts.token_default_hourly_limit"] = 10_000_000
    name, token = _setup(app)
    client = Client(app)
    probes = {
        "status_show": ("/api/3/action/status_show", {}),
        "user_show": ("/api/3/action/user_show", {"id": name}),
    }
    for path, query in probes.values():  # warm-up: caches, connections, the Redis script
        for _ in range(50):
            client.get(path, query_string=query, headers={"Authorization": token})
    out: dict[str, object] = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count()}
    for label, (path, query) in probes.items():
        times = _measure(client, path, query, token, config, calls)
        on, off = times[True], times[False]
        out[label] = {
            "calls_per_side": calls,
            "median_ms_limits_on": _ms(on["wall"]), "median_ms_limits_off": _ms(off["wall"]),
            "ratio": round(statistics.median(on["wall"]) / statistics.median(off["wall"]), 4),
            "cpu_median_ms_limits_on": _ms(on["cpu"]),
            "cpu_median_ms_limits_off": _ms(off["cpu"]),
            "cpu_ratio": round(statistics.median(on["cpu"]) / statistics.median(off["cpu"]), 4),
        }
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
