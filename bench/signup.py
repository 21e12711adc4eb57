#!/usr/bin/env python3
"""Benchmark: developer sign-up to the first authenticated API call, against stock CKAN.

Runs against the CKAN that ``dev/up.sh`` starts (the extension, its jobs worker and the
maildump mail catcher, all on 127.0.0.1). For each iteration:

* ours: ``dgaaccounts_developer_register`` -> the worker sends the email -> the link's token is
  read from maildump -> ``dgaaccounts_email_verify`` (returns the API token) -> ``user_show``
  with that token;
* stock: ``user_create`` + ``api_token_create`` (as a sysadmin, as CKAN offers it) ->
  ``user_show`` with that token.

"server" is the sum of the HTTP calls' times (what the portal spends); "end to end" adds the
wait for the email (the worker and SMTP). Prints medians, 90th percentiles and the ratio.

    dev/up.sh && "$(dev/venv.sh 2.11.6 | tail -n1)/bin/python" bench/signup.py -n 20
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import uuid

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def call(session: requests.Session, url: str, action: str, auth: str | None = None,
         **data) -> tuple[dict, float]:
    headers = {"Authorization": auth} if auth else {}
    start = time.perf_counter()
    resp = session.post(f"{url}/api/3/action/{action}", json=data, headers=headers, timeout=30)
    elapsed = time.perf_counter() - start
    body = resp.json()
    if not body.get("success"):
        raise SystemExit(f"{action} failed: {body.get('error')}")
    return body["result"], elapsed


def wait_for_link(mail_url: str, address: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in requests.get(f"{mail_url}/messages/", timeout=5).json()["messages"]:
            if address in msg["recipients"]["to"]:
                text = requests.get(f"{mail_url}/messages/{msg['id']}.plain", timeout=5).text
                found = re.search(r"/dgaaccounts/verify/(\S+)", text)
                if found:
                    return found.group(1)
        time.sleep(0.05)
    raise SystemExit(f"no verification email for {address} within {timeout}s")


def sysadmin_token(ini: str) -> str:
    ckan = os.path.join(os.path.dirname(sys.executable), "ckan")
    out = subprocess.run([ckan, "-c", ini, "user", "token", "add", "admin", "bench"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1].strip()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="iterations (default 20)")
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--mail-url", default="http://127.0.0.1:1080")
    parser.add_argument("--ini", default=os.path.join(REPO, "dev", "development.ini"))
    args = parser.parse_args()

    admin = sysadmin_token(args.ini)
    session = requests.Session()
    ours_server, ours_total, stock_server = [], [], []
    for _ in range(args.n):
        tag = uuid.uuid4().hex[:10]
        email = f"bench-{tag}@example.com"
        start = time.perf_counter()
        _r, t1 = call(session, args.url, "dgaaccounts_developer_register", name=f"bench-{tag}",
                      fullname="Bench", email=email, password="Bench-Passw0rd-1")
        link = wait_for_link(args.mail_url, email)
        verified, t2 = call(session, args.url, "dgaaccounts_email_verify", token=link)
        _u, t3 = call(session, args.url, "user_show", verified["api_token"], id=f"bench-{tag}")
        ours_total.append(time.perf_counter() - start)
        ours_server.append(t1 + t2 + t3)

        name = f"stock-{tag}"
        _c, s1 = call(session, args.url, "user_create", admin, name=name, fullname="Stock",
                      email=f"{name}@example.com", password="Bench-Passw0rd-1")
        token, s2 = call(session, args.url, "api_token_create", admin, user=name, name="bench")
        _u, s3 = call(session, args.url, "user_show", token["token"], id=name)
        stock_server.append(s1 + s2 + s3)

    def row(label: str, values: list[float]) -> str:
        return (f"| {label} | {statistics.median(values) * 1000:.0f} ms | "
                f"{pct(values, 0.9) * 1000:.0f} ms |")

    ratio = statistics.median(ours_server) / statistics.median(stock_server)
    print(f"Developer sign-up benchmark, {args.n} iterations, {time.strftime('%Y-%m-%d')}, "
          f"{platform.node()} ({os.cpu_count()} CPUs), against {args.url}")
    print("| | median | p90 |\n|---|---|---|")
    print(row("ours, server time (register + verify + first call)", ours_server))
    print(row("stock, server time (user_create + api_token_create + first call)", stock_server))
    print(row("ours, end to end including the email", ours_total))
    print(f"\nratio of server times, ours / stock: {ratio:.2f} (target: at most 2)")


if __name__ == "__main__":
    main()
