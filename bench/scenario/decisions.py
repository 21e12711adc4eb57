"""5. Decisions per second with four concurrent sysadmins, and a race on the same requests:
each decided exactly once."""
from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests

from core import ApiError, Context, analyze, api, log, med, ms, pct, settle, sql, yes
from history import PENDING_SQL


def run(ctx: Context, res: dict[str, Any]) -> None:
    settle(ctx.conn)
    log("5. decisions: four sysadmins")
    quick = ctx.quick
    res["decisions"] = bench_decisions(ctx.args.ext_url, ctx.conn, ctx.admins,
                                       ctx.seed["organization"], duration=8 if quick else 25,
                                       prepared=400 if quick else 1500,
                                       race=10 if quick else 30)


def bench_decisions(ext: str, conn, admins: list[dict], org: dict, duration: float,
                    prepared: int, race: int) -> dict[str, Any]:
    sql(conn, "BEGIN")
    sql(conn, PENDING_SQL, {"lo": 1, "hi": prepared + race})
    sql(conn, "COMMIT")
    analyze(conn)
    ids: queue.Queue[str] = queue.Queue()
    for i in range(1, prepared + 1):
        ids.put(f"bench-d-{i}")
    latencies: list[float] = []
    errors: list[str] = []
    done: Counter[str] = Counter()
    lock = threading.Lock()
    deadline_box = [0.0]
    start_barrier = threading.Barrier(len(admins))

    def decide(admin: dict) -> None:
        session = requests.Session()
        start_barrier.wait()
        while time.perf_counter() < deadline_box[0]:
            try:
                request_id = ids.get_nowait()
            except queue.Empty:
                return
            try:
                _r, took = api(session, ext, "dgaaccounts_request_approve", admin["token"],
                               {"id": request_id, "organization": org["name"],
                                "role": "editor", "note": "benchmark"})
                with lock:
                    latencies.append(took)
                    done[admin["name"]] += 1
            except Exception as exc:  # noqa: BLE001 - reported
                with lock:
                    errors.append(f"{request_id}: {exc}")

    threads = [threading.Thread(target=decide, args=(a,)) for a in admins]
    started = time.perf_counter()
    deadline_box[0] = started + duration
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    decided = sum(done.values())

    # The race: all four sysadmins approve the same request at the same moment.
    race_results: Counter[str] = Counter()
    race_barrier = threading.Barrier(len(admins))
    for i in range(prepared + 1, prepared + race + 1):
        request_id = f"bench-d-{i}"
        outcome: list[str] = []

        def attempt(admin: dict, rid: str = request_id, out: list = outcome) -> None:
            session = requests.Session()
            race_barrier.wait()
            try:
                api(session, ext, "dgaaccounts_request_approve", admin["token"],
                    {"id": rid, "organization": org["name"], "note": "race"})
                out.append("approved")
            except ApiError as exc:
                out.append(f"HTTP {exc.status}")

        racers = [threading.Thread(target=attempt, args=(a,)) for a in admins]
        for t in racers:
            t.start()
        for t in racers:
            t.join()
        race_results[f"{outcome.count('approved')} approved, "
                      f"{len(outcome) - outcome.count('approved')} refused "
                      f"({', '.join(sorted(set(o for o in outcome if o != 'approved')))})"] += 1

    # Each decided exactly once: one approve event per request, and as many as successes.
    rows = sql(conn, "SELECT request_id, count(*) FROM dgaaccounts_audit"
                     " WHERE action = 'approve' AND request_id LIKE 'bench-d-%%'"
                     " GROUP BY request_id")
    twice = [r for r, c in rows if c != 1]
    approved_state = sql(conn, "SELECT count(*) FROM dgaaccounts_request"
                               " WHERE id LIKE 'bench-d-%%' AND state = 'approved'")[0][0]
    members = sql(conn, "SELECT count(*) FROM member m JOIN \"group\" g ON g.id = m.group_id"
                        " WHERE g.name = %(org)s AND m.table_id LIKE 'bench-du-%%'"
                        " AND m.state = 'active'", {"org": org["name"]})[0][0]
    return {
        "decided": decided, "wall": wall, "per_admin": dict(done), "latencies": latencies,
        "errors": errors, "race": dict(race_results), "race_requests": race,
        "approve_events": len(rows), "decided_twice": twice, "approved_rows": approved_state,
        "memberships": members,
    }



def report(res: dict[str, Any], add: Callable[[str], None]) -> tuple[str, str, str]:
    """This section of RESULTS.md; returns its row of the summary."""
    summary: list[tuple[str, str, str]] = []
    de = res["decisions"]
    rate = de["decided"] / de["wall"]
    add("## 5. Decisions per second, four sysadmins at once")
    add("")
    add(f"Four sysadmins, each with an API token and its own thread, approve distinct submitted "
        f"agency registrations (`dgaaccounts_request_approve` into an organization, role "
        f"editor: the account activated, the membership added, audit event and email queued, "
        f"the jobs worker sending the emails meanwhile) for {de['wall']:.1f} s.")
    add("")
    add("| | |")
    add("|---|---|")
    add(f"| decisions | {de['decided']} in {de['wall']:.1f} s: **{rate:.1f} per second** |")
    add(f"| per sysadmin | {', '.join(f'{k}: {v}' for k, v in sorted(de['per_admin'].items()))} |")
    if de["latencies"]:
        add(f"| time per decision | median {ms(med(de['latencies']))}, "
            f"p95 {ms(pct(de['latencies'], .95))} |")
    add(f"| errors | {len(de['errors'])} |")
    add(f"| race: {de['race_requests']} requests, each approved by all four at the same moment "
        "| " + "; ".join(f"{v} of {de['race_requests']} requests: {k}"
                         for k, v in de["race"].items()) + " |")
    add(f"| exactly once | {de['approve_events']} approve events, "
        f"{len(de['decided_twice'])} requests decided more than once, "
        f"{de['approved_rows']} requests approved, {de['memberships']} memberships |")
    add("")
    once = (not de["decided_twice"] and de["approve_events"] == de["approved_rows"]
            == de["decided"] + de["race_requests"] and not de["errors"])
    summary.append(("5. decisions, 4 sysadmins", "measured; each decided exactly once",
                    f"{rate:.1f}/s, exactly once: {yes(once)}"))
    return summary[0]
