"""Time a provider sign-in round trip on the portal against a password sign-in, in one run
(issue 14: the cost of a provider sign-in on the portal side, without the provider's own time).

    CKAN_SQLALCHEMY_URL=postgresql://...  CKAN_REDIS_URL=redis://127.0.0.1:6379/N \\
        /path/to/venv/bin/python bench/oidc_signin.py [--ini test.ini] [--runs 31]

The database must have the plugin's migrations (``dev/test.sh`` leaves the test database so).
One process, one CKAN app (werkzeug's test client, no network in front), real PostgreSQL and
Redis, and a real OpenID Provider: panva's oidc-provider on loopback (dev/oidc, started as the
tests start it, ES256 like DGA Digital ID). Rounds alternate the two sign-ins, each in a new
browser (cookie jar), so both see the same machine load:

* password: CKAN's login page (its CSRF token), then the POST of the form;
* provider: the portal's start (``/user/oidc/<name>/login``: discovery, state, nonce, PKCE),
  then, after the person's login and consent at the provider (not timed: the provider's pages),
  the callback (discovery, the code exchange, the JWKS, the ID token checks, the account gate,
  the session). The portal's outgoing calls to the provider are timed apart, and the portal's
  own part is the round trip less them.

Prints the median of each and the ratios (provider / password).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests
from ckan.cli import load_config
from ckan.config.middleware import make_app
from werkzeug.test import Client

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PASSWORD = "Bench-Passw0rd-42"
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


class OutgoingTimer:
    """Adds up the time the portal waits for the provider (every ``requests`` call made while
    ``active``; Authlib's client and the discovery/JWKS fetches all go through it)."""

    def __init__(self) -> None:
        self.active = False
        self.seconds = 0.0
        self._send = requests.Session.send
        timer = self

        def send(session, request, **kwargs):
            if not timer.active:
                return timer._send(session, request, **kwargs)
            start = time.perf_counter()
            try:
                return timer._send(session, request, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - start

        requests.Session.send = send  # type: ignore[method-assign]


def _setup(app, running, sub: str) -> str:
    """A user with a password, linked to the provider's demo identity."""
    import ckan.model as model
    from ckan.plugins import toolkit as tk

    from ckanext.dgaaccounts import identity

    with app._wsgi_app.test_request_context():
        name = "bench_" + uuid.uuid4().hex[:10]
        tk.get_action("user_create")({"ignore_auth": True}, {
            "name": name, "email": f"{name}@example.com", "password": PASSWORD})
        user = model.User.by_name(name)
        for row in model.Session.query(identity.IdentityLink).filter(
                identity.IdentityLink.issuer == running.issuer,
                identity.IdentityLink.sub == sub):
            model.Session.delete(row)  # an earlier run's
        identity.link(user, "digitalid", running.issuer, sub, None, user.id)
        model.Session.commit()
    return name


def password_round(app, name: str) -> float:
    client = Client(app)
    start = time.perf_counter()
    page = client.get("/user/login")
    token = _CSRF.search(page.get_data(as_text=True)).group(1)
    answer = client.post("/user/login", data={"_csrf_token": token, "login": name,
                                              "password": PASSWORD})
    elapsed = time.perf_counter() - start
    if answer.status_code != 302 or "/user/login" in answer.headers.get("Location", ""):
        raise SystemExit(f"password sign-in failed: {answer.status_code}")
    return elapsed


def provider_round(app, timer: OutgoingTimer, provider_login) -> tuple[float, float]:
    """(the portal's time for the round trip, of which waiting for the provider)."""
    client = Client(app)
    timer.seconds, timer.active = 0.0, True
    start = time.perf_counter()
    answer = client.get("/user/oidc/digitalid/login")
    portal = time.perf_counter() - start
    timer.active = False
    if answer.status_code != 302:
        raise SystemExit(f"provider start failed: {answer.status_code}")
    callback = provider_login(answer.headers["Location"], "somchai")  # the person, not timed
    path = callback.split("127.0.0.1:5000", 1)[1]
    timer.active = True
    start = time.perf_counter()
    answer = client.get(path)
    portal += time.perf_counter() - start
    timer.active = False
    if answer.status_code != 302 or "/dashboard" not in answer.headers.get("Location", ""):
        raise SystemExit(f"provider sign-in failed: {answer.status_code} "
                         f"{answer.headers.get('Location')}")
    return portal, timer.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ini", default=os.path.join(REPO, "test.ini"))
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()

    from ckanext.dgaaccounts.tests.oidc.conftest import (
        DIGITALID_ACCOUNTS, SITE, provider_login, start_provider, stop_provider,
    )

    modules = subprocess.run([os.path.join(REPO, "dev", "oidc", "install.sh")], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
    running = start_provider(modules, tempfile.mkdtemp(prefix="dga-bench-oidc-"), "digitalid",
                             [SITE])
    try:
        config = load_config(args.ini)
        app = make_app(config)
        from ckan.common import config as live

        live["ckanext.dgaaccounts.oidc.providers"] = "digitalid"
        live["ckanext.dgaaccounts.identity_hmac_secret"] = "bench-identity-secret"
        live.update(running.config())
        name = _setup(app, running, DIGITALID_ACCOUNTS["somchai"]["sub"])
        timer = OutgoingTimer()
        for _ in range(3):  # warm-up (templates, connections)
            password_round(app, name)
            provider_round(app, timer, provider_login)
        password, provider, waiting = [], [], []
        for i in range(args.runs):
            for side in (("password", "provider") if i % 2 else ("provider", "password")):
                if side == "password":
                    password.append(password_round(app, name) * 1000)
                else:
                    portal, outgoing = provider_round(app, timer, provider_login)
                    provider.append(portal * 1000)
                    waiting.append(outgoing * 1000)
    finally:
        stop_provider(running)
    own = [total - wait for total, wait in zip(provider, waiting, strict=True)]
    med_password, med_provider = statistics.median(password), statistics.median(provider)
    med_own, med_wait = statistics.median(own), statistics.median(waiting)
    print(f"password sign-in (login page + POST): median {med_password:.1f} ms "
          f"over {args.runs} runs")
    print(f"provider sign-in round trip on the portal (start + callback): median "
          f"{med_provider:.1f} ms, of which waiting for the provider {med_wait:.1f} ms")
    print(f"provider sign-in, the portal's own part: median {med_own:.1f} ms")
    print(f"ratio provider / password: {med_provider / med_password:.2f} "
          f"(the portal's own part: {med_own / med_password:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
