"""1. Overhead on requests the extension does not handle: plugin-enabled vs stock server,
A/B interleaved; and Python function calls per request (bench/calls.py)."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import requests

from core import HERE, Context, api, get_page, log, med, ms, pct, settle, yes


def run(ctx: Context, res: dict[str, Any]) -> None:
    settle(ctx.conn)
    log("1. overhead: plugin vs stock, A/B interleaved")
    quick = ctx.quick
    res["overhead"] = bench_overhead(ctx.args.ext_url, ctx.args.stock_url, ctx.seed["user"],
                                     iterations=60 if quick else 300, warmup=10 if quick else 30)
    res["calls"] = function_calls(ctx.args.work)


def bench_overhead(ext: str, stock: str, user: dict, iterations: int,
                   warmup: int) -> dict[str, Any]:
    calls: dict[str, Callable[[requests.Session, str], float]] = {
        "user_show (API token)": lambda s, base: api(
            s, base, "user_show", user["token"], {"id": user["name"]}, get=True)[1],
        "organization_list (API token)": lambda s, base: api(
            s, base, "organization_list", user["token"], get=True)[1],
        "GET /user/login (anonymous)": lambda s, base: _anonymous_page(s, base + "/user/login"),
    }
    sessions = {ext: requests.Session(), stock: requests.Session()}
    times: dict[str, dict[str, list[float]]] = {name: {"ext": [], "stock": []} for name in calls}
    rng = random.Random(42)
    for n in range(warmup + iterations):
        for name, call in calls.items():
            order = [("ext", ext), ("stock", stock)]
            rng.shuffle(order)  # A/B interleaved, in random order within each pair
            for label, base in order:
                took = call(sessions[base], base)
                if n >= warmup:
                    times[name][label].append(took)
    return times


def _anonymous_page(session: requests.Session, url: str) -> float:
    session.cookies.clear()  # a first visit: no session cookie
    return get_page(session, url)


def function_calls(work: str) -> dict[str, dict[str, float]]:
    """bench/calls.py on the plugin's and the stock configuration: calls per request."""
    out = {}
    for label, ini in (("ext", "ext.ini"), ("stock", "stock.ini")):
        done = subprocess.run(
            [sys.executable, os.path.join(HERE, "calls.py"), os.path.join(work, ini),
             os.path.join(work, "seed-ext.json")], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            log("calls.py failed:\n" + done.stderr[-3000:])
            return {}
        out[label] = json.loads(done.stdout.strip().splitlines()[-1])
    return out



def report(res: dict[str, Any], add: Callable[[str], None]) -> tuple[str, str, str]:
    """This section of RESULTS.md; returns its row of the summary."""
    summary: list[tuple[str, str, str]] = []
    ov = res["overhead"]
    add("## 1. Overhead on requests the extension does not handle")
    add("")
    add(f"Two servers on the same database, identical but for `ckan.plugins`; "
        f"{len(next(iter(ov.values()))['ext'])} calls of each after a warm-up, A/B interleaved "
        "(each pair in random order), one client.")
    add("")
    add("| call | plugin: median | p95 | stock: median | p95 | ratio of medians "
        "(median of paired ratios) | target ≤ 1.05 |")
    add("|---|---|---|---|---|---|---|")
    all_ok = True
    for name, t in ov.items():
        ratio = med(t["ext"]) / med(t["stock"])
        ok = ratio <= 1.05
        all_ok &= ok
        paired = med([a / b for a, b in zip(t["ext"], t["stock"], strict=True)])
        add(f"| {name} | {ms(med(t['ext']))} | {ms(pct(t['ext'], .95))} | "
            f"{ms(med(t['stock']))} | {ms(pct(t['stock'], .95))} | {ratio:.3f} ({paired:.3f}) "
            f"| {yes(ok)} |")
    add("")
    worst_ov = max(med(t["ext"]) / med(t["stock"]) for t in ov.values())
    calls = res.get("calls") or {}
    if calls:
        add("Work per request, which the machine's load cannot blur (`bench/calls.py`: the "
            "same requests in-process under `cProfile`, Python function calls per request):")
        add("")
        add("| call | plugin | stock | added by the plugin |")
        add("|---|---|---|---|")
        for name, stock_calls in calls["stock"].items():
            ext_calls = calls["ext"][name]
            add(f"| {name} | {ext_calls:,.0f} | {stock_calls:,.0f} | "
                f"{ext_calls - stock_calls:+,.0f} ({(ext_calls / stock_calls - 1) * 100:+.1f}%) |")
        add("")
    extra = ""
    if calls:
        most = max(calls["ext"][n] / calls["stock"][n] - 1 for n in calls["stock"])
        extra = f"; function calls at most {most * 100:+.1f}%"
    summary.append(("1. overhead, plugin vs stock", "≤ 5% slower (ratio of medians ≤ 1.05)",
                    f"{yes(all_ok)} (largest ratio {worst_ov:.3f}{extra})"))
    return summary[0]
