"""2. Developer sign-up to the first authenticated API call, vs stock user_create +
api_token_create."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from core import PASSWORD, Context, MailBox, api, log, med, ms, pct, verify, yes


def run(ctx: Context, res: dict[str, Any]) -> None:
    log("2. developer sign-up vs stock")
    res["signup"] = bench_signup(ctx.args.ext_url, ctx.args.stock_url, ctx.admins[0],
                                 ctx.mailbox, iterations=6 if ctx.quick else 25, warmup=2)


def bench_signup(ext: str, stock: str, admin: dict, mailbox: MailBox,
                 iterations: int, warmup: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ours_server": [], "ours_total": [], "stock_server": [],
                                   "ours_register": [], "ours_verify": [], "ours_first_call": []}
    session = requests.Session()
    for n in range(warmup + iterations):
        tag = uuid.uuid4().hex[:10]
        email_addr = f"dev-{tag}@example.com"
        start = time.perf_counter()
        _r, t1 = api(session, ext, "dgaaccounts_developer_register",
                     data={"name": f"dev-{tag}", "fullname": "Bench Developer",
                           "email": email_addr, "password": PASSWORD})
        token = mailbox.link(email_addr)
        verified, t2 = verify(session, ext, token)
        _u, t3 = api(session, ext, "user_show", verified["api_token"], {"id": f"dev-{tag}"},
                     get=True)
        total = time.perf_counter() - start

        name = f"stock-{tag}"
        _c, s1 = api(session, stock, "user_create", admin["token"],
                     {"name": name, "fullname": "Stock Developer",
                      "email": f"{name}@example.com", "password": PASSWORD})
        tok, s2 = api(session, stock, "api_token_create", admin["token"],
                      {"user": name, "name": "bench"})
        _u, s3 = api(session, stock, "user_show", tok["token"], {"id": name}, get=True)
        if n >= warmup:
            out["ours_server"].append(t1 + t2 + t3)
            out["ours_register"].append(t1)
            out["ours_verify"].append(t2)
            out["ours_first_call"].append(t3)
            out["ours_total"].append(total)
            out["stock_server"].append(s1 + s2 + s3)
    return out



def report(res: dict[str, Any], add: Callable[[str], None]) -> tuple[str, str, str]:
    """This section of RESULTS.md; returns its row of the summary."""
    summary: list[tuple[str, str, str]] = []
    su = res["signup"]
    ratio = med(su["ours_server"]) / med(su["stock_server"])
    add("## 2. Developer sign-up to the first authenticated API call")
    add("")
    add(f"{len(su['ours_server'])} sign-ups each after a warm-up. Ours: "
        "`dgaaccounts_developer_register` → the email (jobs worker, SMTP) → "
        "`dgaaccounts_email_verify` (returns the API token) → `user_show` with it, on the "
        "plugin server. Stock: `user_create` + `api_token_create` by a sysadmin → `user_show` "
        "with the token, on the stock server. *Server time* is the sum of the HTTP calls; "
        "*end to end* adds the wait for the email.")
    add("")
    add("| | median | p95 |")
    add("|---|---|---|")
    for label, key in (("ours, server time (register + verify + first call)", "ours_server"),
                       ("  register", "ours_register"), ("  verify (issues the token)",
                                                         "ours_verify"),
                       ("  first call", "ours_first_call"),
                       ("stock, server time (user_create + api_token_create + first call)",
                        "stock_server"),
                       ("ours, end to end including the email", "ours_total")):
        add(f"| {label} | {ms(med(su[key]))} | {ms(pct(su[key], .95))} |")
    add("")
    add(f"Ratio of server times, ours / stock: **{ratio:.2f}** (target ≤ 2: {yes(ratio <= 2)}).")
    if res.get("early_links"):
        add("")
        add(f"**{res['early_links']} times in this run** (sign-ups and the upload applicants) "
            "the verification link from the email was refused as invalid and accepted when "
            "retried 20 ms later: the email arrived before its token was committed.")
    add("")
    summary.append(("2. developer sign-up vs stock", "≤ 2x", f"{yes(ratio <= 2)} ({ratio:.2f}x)"))
    return summary[0]
