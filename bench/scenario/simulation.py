"""6. A month of agency registrations on a fake clock, under each approval mode, with escalation
(bench/simulate.py, in-process on the 1,000-request database once section 3 is done with it)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from core import HERE, Context, log, yes

GOAL = 0.95


def run(ctx: Context, res: dict[str, Any]) -> None:
    log("6. simulation: a month of requests per approval mode, fake clock")
    size = ["--requests", "1000", "--organizations", "100"] if ctx.quick else []
    res["simulation"] = simulate(os.path.join(ctx.args.work, "ext-1k.ini"), size)


def simulate(ini: str, extra: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, os.path.join(HERE, "simulate.py"), ini, *extra],
                          capture_output=True, text=True, timeout=3 * 3600)
    if done.returncode != 0:
        log("simulate.py failed:\n" + done.stderr[-3000:])
        return {}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


def report(res: dict[str, Any], add: Callable[[str], None]) -> tuple[str, str, str]:
    """This section of RESULTS.md; returns its row of the summary."""
    sim = res.get("simulation") or {}
    add("## 6. A month of requests per approval mode (simulation)")
    add("")
    if not sim.get("modes"):
        add("The simulation did not run (see var/bench/logs).")
        add("")
        return ("6. simulation", f"≥ {GOAL:.0%} within 24 h (delegated)", "not run")
    add(f"`bench/simulate.py`: {sim['requests']:,} agency registrations to "
        f"{sim['organizations']} organizations over {sim['days']} days, on a fake clock "
        "(freezegun) moved from event to event, through the extension's actions, state machine, "
        "audit trail, outbox and `dgaaccounts_requests_escalate` (cron every minute) on a real "
        "database. Organization admins answer after a log-normal delay (prompt: median 1.5 h; "
        "slow: 8 h; 15% of organizations never; 5% have no admin); three sysadmins work "
        "weekdays 08:30-16:30 Bangkok time, 4-8 minutes a decision, escalated requests first. "
        "The same people, requests and arrival times in every mode.")
    add("")
    add("| mode | decided within 24 h | median | p90 | by sysadmins | undecided | escalations "
        "(no admin) | latest escalation after its threshold | escalated twice | run time |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for mode, m in sim["modes"].items():
        share = m["within_24h_share"]
        late = m["escalation_late_max_seconds"]
        add(f"| {mode} | {m['within_24h']:,} of {m['requests']:,} (**{share:.1%}**) | "
            f"{_hours(m['median_hours'])} | {_hours(m['p90_hours'])} | "
            f"{m['decided_by_sysadmins']:,} | {m['undecided']} | {m['escalations']:,} "
            f"({m['escalations_no_admin']}) | {'-' if late is None else f'{late:.0f} s'} | "
            f"{m['escalated_twice']} | {m['seconds']:.0f} s |")
    add("")
    delegated = sim["modes"].get("delegated") or {}
    share = delegated.get("within_24h_share") or 0.0
    on_time = all((m["escalation_late_max_seconds"] or 0) <= 60 and not m["escalated_twice"]
                  for m in sim["modes"].values())
    ok = share >= GOAL and on_time
    add(f"Goal: at least {GOAL:.0%} decided within 24 hours with delegation "
        f"({share:.1%}: {yes(share >= GOAL)}); every escalation within one minute of its "
        f"threshold, once ({yes(on_time)}).")
    add("")
    return ("6. simulation, a month per mode",
            f"delegated ≥ {GOAL:.0%} within 24 h; escalations ≤ 1 min late, once",
            f"{yes(ok)} (delegated {share:.1%}"
            + "".join(f", {mode} {m['within_24h_share']:.1%}"
                      for mode, m in sim["modes"].items() if mode != "delegated") + ")")
