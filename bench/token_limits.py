#!/usr/bin/env python3
"""Overhead of per-token counting and limits on a token-authenticated API call (issue 17).

    CKAN_SQLALCHEMY_URL=postgresql://...  CKAN_REDIS_URL=redis://127.0.0.1:6379/N \\
        python bench/token_limits.py test.ini [rounds]

The database must have the plugin's migrations (``dev/test.sh`` leaves the test database so).
One process, one CKAN app, real PostgreSQL and Redis: the same calls are served in alternating
blocks with ``ckanext.dgaaccounts.token_limits_enabled`` on and off (read per call), so both
sides see the same machine load. Prints, per call, the median time of each side and their
ratio; the target is at most 1.03 (3 %).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
import uuid

from ckan.cli import load_config
from ckan.config.middleware import make_app
from werkzeug.test import Client

BLOCK = 20


def _setup(app) -> tuple[str, str]:
    from ckan.plugins import toolkit as tk

    with app._wsgi_app.test_request_context():
        name = "bench_" + uuid.uuid4().hex[:10]
        tk.get_action("user_create")({"ignore_auth": True}, {
            "name": name, "email": f"{name}@example.com", "password": "Bench-Passw0rd-1"})
        token = tk.get_action("api_token_create")(
            {"user": name, "ignore_auth": True}, {"user": name, "name": "bench"})["token"]
    return name, token


def _median_ms(client: Client, path: str, query: dict, token: str, config, on: bool,
               rounds: int) -> tuple[float, float]:
    key = "ckanext.dgaaccounts.token_limits_enabled"
    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(rounds):
        for side in ((True, False) if i % 2 else (False, True)):
            config[key] = side
            for _ in range(BLOCK):
                start = time.perf_counter()
                resp = client.get(path, query_string=query, headers={"Authorization": token})
                times[side].append(time.perf_counter() - start)
                if resp.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {resp.status_code} {resp.get_data()[:200]}")
                if side != ("X-RateLimit-Limit" in resp.headers):
                    raise SystemExit("limits did not switch")
    config[key] = True
    return (statistics.median(times[True]) * 1000, statistics.median(times[False]) * 1000)


def main() -> None:
    from ckan.common import config

    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    app = make_app(load_config(sys.argv[1]))
    config["ckanext.dgaaccounts.token_default_hourly_limit"] = 10_000_000
    name, token = _setup(app)
    client = Client(app)
    calls = {
        "status_show": ("/api/3/action/status_show", {}),
        "user_show": ("/api/3/action/user_show", {"id": name}),
    }
    for path, query in calls.values():  # warm-up
        for _ in range(BLOCK):
            client.get(path, query_string=query, headers={"Authorization": token})
    out = {}
    for label, (path, query) in calls.items():
        on, off = _median_ms(client, path, query, token, config, True, rounds)
        out[label] = {"median_ms_limits_on": round(on, 3), "median_ms_limits_off": round(off, 3),
                      "ratio": round(on / off, 4), "calls_per_side": rounds * BLOCK}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
