"""RESULTS.md: the machine, the summary, the notes, then each scenario's section."""
from __future__ import annotations

from types import ModuleType


def write_report(path: str, info: dict, server_desc: str, quick: bool, res: dict,
                 scenarios: list[ModuleType]) -> None:
    lines: list[str] = []
    add = lines.append
    add("# Benchmark results")
    add("")
    add("Written by `bench/run.sh` (see [the README](../README.md#performance)); every figure "
        "below comes from one run, the two servers measured side by side.")
    if quick:
        add("")
        add("**Quick run (`--quick`): fewer iterations, figures are indicative only.**")
    add("")
    add("| | |")
    add("|---|---|")
    add(f"| date | {info['date']} |")
    add(f"| machine | `{info['uname']}` |")
    add(f"| CPUs | {info['cpus']} |")
    add(f"| RAM | {info['ram']} |")
    add(f"| load average (1/5/15 min) at start / at end | {info['load']} / {res['load_end']} |")
    add(f"| CKAN | {info['ckan']} (Python {info['python']}, PostgreSQL {info['postgres']}) |")
    add(f"| servers | {server_desc}; {info['gunicorn']} |")
    add(f"| code | commit {info['commit']} |")
    add(f"| run time | {res['runtime'] / 60:.1f} min |")
    add("")
    add("The machine was shared with other work during the run (see the load average): "
        "absolute times are noisy, which is why every comparison is made within the run, "
        "interleaving the two sides.")
    add("")
    sections: list[str] = []
    summary = [s.report(res, sections.append) for s in scenarios]
    head = ["## Summary", "", "| measurement | target | result |", "|---|---|---|"]
    head += [f"| {a} | {b} | {c} |" for a, b, c in summary]
    head.append("")
    notes = res.get("notes")
    if notes:
        head += ["## Notes", "", notes, ""]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines + head + sections) + "\n")
