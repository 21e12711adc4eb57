"""3. dgaaccounts_request_list and the queue page at 1,000 and at 100,000 requests (two
databases served by identical servers, timed alternately), with the query plans."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import requests

from core import HERE, Context, api, counts, db, get_page, log, med, ms, pct, settle, yes
from history import load_history
from scenarios import LIST_SCENARIOS, PAGE_SCENARIOS


def run(ctx: Context, res: dict[str, Any]) -> None:
    args = ctx.args
    log("3. the queue: 1,000 requests on one server's database, 100,000 on the other's")
    conn_1k = db(args.db1k_url)
    with open(os.path.join(args.work, "seed-ext-1k.json")) as fh:
        admin_1k = json.load(fh)["sysadmins"][0]
    res["queue_rows"], res["queue_counts"] = {}, {}
    for label, target, admin, url in (("1k", conn_1k, admin_1k, args.ext1k_url),
                                      ("100k", ctx.conn, ctx.admins[0], args.ext_url)):
        hi = 1000 if label == "1k" else 100_000
        took = load_history(target, 1, hi, admin["id"])
        res["queue_rows"][label] = counts(target)
        res["queue_counts"][label] = queue_sanity(url, admin)
        log(f"   loaded {hi:,} requests in {took:.1f} s")
    settle(ctx.conn)
    log("   timing the queue on both, alternately")
    res["queue"] = bench_queue({"1k": (args.ext1k_url, admin_1k["token"]),
                                "100k": (args.ext_url, ctx.admins[0]["token"])},
                               (args.stock_url, ctx.seed["user"]),
                               iterations=20 if ctx.quick else 100, warmup=5)
    log("   EXPLAIN ANALYZE at 100k")
    res["explain"] = explain(args.ext_ini, ctx.admins[0], os.path.join(args.work, "plans.txt"))


CONTROL = "control: stock CKAN's user_show (API token)"


def bench_queue(servers: dict[str, tuple[str, str]], control: tuple[str, dict], iterations: int,
                warmup: int) -> dict[str, dict[str, list[float]]]:
    """Time every scenario on each server (label -> (url, sysadmin token)): the servers are
    identical but for their database, and are called alternately, in random order within each
    pair, so that a noisy moment of the machine touches both sizes alike."""
    sessions = {label: requests.Session() for label in servers}

    def list_call(label: str, params: dict) -> float:
        url, token = servers[label]
        return api(sessions[label], url, "dgaaccounts_request_list", token,
                   dict(params, limit=20), get=True)[1]

    def page_call(label: str, params: dict) -> float:
        url, token = servers[label]
        return get_page(sessions[label], url + "/ckan-admin/dgaaccounts/", token, params)

    jobs: list[tuple[str, Callable[[str], float]]] = []
    for name, params in LIST_SCENARIOS.items():
        jobs.append((f"API: {name}", lambda label, p=params: list_call(label, p)))
    for name, params in PAGE_SCENARIOS.items():
        jobs.append((name, lambda label, p=params: page_call(label, p)))
    # The yardstick of the moment: a plain CKAN call to the stock server, in the same rounds
    # (under both labels, so twice per round), shows what the machine's load adds.
    stock_url, user = control
    stock_session = requests.Session()
    jobs.append((CONTROL, lambda label: api(stock_session, stock_url, "user_show", user["token"],
                                            {"id": user["name"]}, get=True)[1]))
    times = {label: {name: [] for name, _ in jobs} for label in servers}
    rng = random.Random(7)
    for n in range(warmup + iterations):
        for name, job in jobs:
            order = list(servers)
            rng.shuffle(order)
            for label in order:
                took = job(label)
                if n >= warmup:
                    times[label][name].append(took)
    return times


def queue_sanity(ext: str, admin: dict) -> dict[str, int]:
    session = requests.Session()
    return {name: api(session, ext, "dgaaccounts_request_list", admin["token"],
                      dict(params, limit=20), get=True)[0]["count"]
            for name, params in LIST_SCENARIOS.items()}


def explain(ini: str, admin: dict, plans_path: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "explain.py"), ini, admin["name"], admin["token"],
         plans_path], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        log("explain.py failed:\n" + out.stderr[-3000:])
        return {}
    return json.loads(out.stdout.strip().splitlines()[-1])



def report(res: dict[str, Any], add: Callable[[str], None]) -> tuple[str, str, str]:
    """This section of RESULTS.md; returns its row of the summary."""
    summary: list[tuple[str, str, str]] = []
    q = res["queue"]
    add("## 3. The queue at 1,000 and at 100,000 requests")
    add("")
    add("Generated history (SQL `generate_series`): about five years of requests of every kind, "
        "10% of them open (awaiting verification, awaiting the form, submitted — half of those "
        "overdue —, returned), each with its applicant (a CKAN user) and the audit events its "
        "states imply; `VACUUM ANALYZE` after loading. The 1,000 are in a second database, "
        "served by a third server identical to the plugin server: the two sizes are timed "
        "side by side, alternately (random order within each pair), as a sysadmin with an API "
        f"token, page size 20, {len(next(iter(q['1k'].values())))} calls per figure after a "
        "warm-up, the scenarios round robin.")
    add("")
    add("| | requests | audit events | users |")
    add("|---|---|---|---|")
    for size in ("1k", "100k"):
        r, a, u = res["queue_rows"][size]
        add(f"| {size} | {r:,} | {a:,} | {u:,} |")
    add("")
    add("| scenario | matches at 1k / 100k | 1k: median | p95 | 100k: median | p95 | "
        "ratio of medians (p95) | target |")
    add("|---|---|---|---|---|---|---|---|")
    q_ok = True
    misses: list[str] = []
    counts_ = res["queue_counts"]
    for name in q["1k"]:
        if name == CONTROL:
            continue
        a, b = q["1k"][name], q["100k"][name]
        ratio = med(b) / med(a)
        ratio95 = pct(b, .95) / pct(a, .95)
        is_api = name.startswith("API: ")
        ok = ratio <= 1.5 and (not is_api or pct(b, .95) < 0.050)
        q_ok &= ok
        if ratio > 1.5:
            misses.append(f"{name}: {ratio:.2f}x")
        elif not ok:
            misses.append(f"{name}: p95 {ms(pct(b, .95))}")
        matches = ""
        if is_api:
            key = name[len("API: "):]
            matches = f"{counts_['1k'].get(key, '?'):,} / {counts_['100k'].get(key, '?'):,}"
        add(f"| {name} | {matches} | {ms(med(a))} | {ms(pct(a, .95))} | {ms(med(b))} | "
            f"{ms(pct(b, .95))} | {ratio:.2f} ({ratio95:.2f}) | {yes(ok)} |")
    add("")
    add("Target: median at 100k within 1.5x of the median at 1k, and for the API call a p95 "
        "under 50 ms at 100k.")
    control = q["1k"].get(CONTROL, []) + q["100k"].get(CONTROL, [])
    if control:
        add("")
        section1 = (res.get("overhead") or {}).get("user_show (API token)")
        add("For scale, the machine's state during these rounds: stock CKAN answered a "
            f"token-authenticated `user_show`, timed in the same rounds, in {ms(med(control))} "
            f"(p95 **{ms(pct(control, .95))}**)"
            + (f"; in section 1 it took {ms(med(section1['stock']))}." if section1 else "."))
    add("")
    ex = res.get("explain") or {}
    if ex:
        add("### Query plans at 100,000 requests")
        add("")
        add("`bench/explain.py` calls the action in-process, records every SQL statement it "
            "sends and runs `EXPLAIN (ANALYZE, BUFFERS)` on each (full plans of the last run: "
            "`var/bench/plans.txt`). Statements per call at page sizes 20 and 100 show there is "
            "no query per row.")
        add("")
        add("| scenario | statements (limit 20 / 100) | SQL execution (ms) | scans |")
        add("|---|---|---|---|")
        for name, e in ex.get("list", {}).items():
            times_ = " + ".join(f"{x['execution_ms']:.2f}" for x in e["explained"])
            scans = "; ".join(sorted({s for x in e["explained"] for s in x["scans"]}))
            add(f"| {name} | {e['statements_limit_20']} / {e['statements_limit_100']} | "
                f"{times_} | {scans} |")
        for name, e in ex.get("pages", {}).items():
            add(f"| {name} (HTTP {e['status']}) | {e['statements']} per page | | |")
        add("")
    worst_ratio = max(med(q["100k"][n]) / med(q["1k"][n]) for n in q["1k"] if n != CONTROL)
    if misses and control:
        misses.append(f"meanwhile stock CKAN's user_show: p95 {ms(pct(control, .95))}")
    summary.append(("3. queue at 100k vs 1k", "≤ 1.5x, API p95 < 50 ms",
                     f"{yes(q_ok)} (largest ratio {worst_ratio:.2f}x"
                     + (f"; missed: {'; '.join(misses)})" if misses else ")")))
    return summary[0]
