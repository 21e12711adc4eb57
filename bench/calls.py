"""Work per request that the machine's load cannot blur: Python function calls, counted.

    python bench/calls.py var/bench/ext.ini var/bench/seed-ext.json

Serves the overhead benchmark's three requests through CKAN's whole WSGI stack in this
process, 50 times each after a warm-up, under ``cProfile``; prints, as JSON, the function
calls per request. Run once with the plugin's ini and once with the stock one: the difference
is what the plugin adds to requests it does not handle.
"""
from __future__ import annotations

import cProfile
import json
import pstats
import sys

from ckan.cli import load_config
from ckan.config.middleware import make_app
from werkzeug.test import Client


def main() -> None:
    app = make_app(load_config(sys.argv[1]))
    with open(sys.argv[2]) as fh:
        user = json.load(fh)["user"]
    client = Client(app)
    auth = {"Authorization": user["token"]}
    calls = {
        "user_show (API token)": lambda: client.get(
            "/api/3/action/user_show", query_string={"id": user["name"]}, headers=auth),
        "organization_list (API token)": lambda: client.get(
            "/api/3/action/organization_list", headers=auth),
        # A new client each time: a first visit, no session cookie.
        "GET /user/login (anonymous)": lambda: Client(app).get("/user/login"),
    }
    out = {}
    for name, call in calls.items():
        for _ in range(20):
            status = call().status_code
        if status != 200:
            raise SystemExit(f"{name}: HTTP {status}")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(50):
            call()
        profile.disable()
        out[name] = pstats.Stats(profile).total_calls / 50
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
