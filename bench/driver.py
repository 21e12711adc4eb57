#!/usr/bin/env python3
"""The benchmark's measurements; started by bench/run.sh, which starts the servers it measures.

Each measurement is a module of bench/scenario/ (``scenario.ORDER``), on the shared core of
bench/core.py:

1. overhead on requests the extension does not handle: plugin-enabled vs stock server;
2. developer sign-up to the first authenticated API call vs stock user_create + api_token_create;
3. dgaaccounts_request_list and the queue page at 1,000 and at 100,000 requests;
4. twenty concurrent 10 MB uploads: throughput and memory of the server processes;
5. decisions per second with four concurrent sysadmins;
6. a month of 5,000 requests to 300 organizations on a fake clock, per approval mode.

Writes bench/RESULTS.md (or --out). Data is loaded with SQL (generate_series) straight into the
benchmark's own database; everything else goes through HTTP, as a client would, except the
simulation, which runs the workflow code in-process on its own database.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import scenario  # noqa: E402
from core import EARLY_LINKS, Context, MailBox, db, log, machine  # noqa: E402
from report import write_report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ext-url", required=True)
    parser.add_argument("--stock-url", required=True)
    parser.add_argument("--ext-pid", type=int, required=True)
    parser.add_argument("--stock-pid", type=int, required=True)
    parser.add_argument("--ext-ini", required=True)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--ext1k-url", required=True,
                        help="the plugin server whose database gets 1,000 requests")
    parser.add_argument("--db1k-url", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--server-desc", default="")
    parser.add_argument("--threads", type=int, default=4, help="threads per server worker")
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument("--only", action="append", choices=scenario.ORDER,
                        help="run only this scenario (repeatable); default: all")
    parser.add_argument("--notes", default=os.path.join(HERE, "NOTES.md"),
                        help="markdown pasted into the results' Notes section, if it exists")
    args = parser.parse_args()

    started = time.perf_counter()
    with open(os.path.join(args.work, "seed-ext.json")) as fh:
        seed = json.load(fh)
    conn = db(args.db_url)
    info = machine(conn)
    ctx = Context(args=args, seed=seed, conn=conn, mailbox=MailBox(os.path.join(args.work, "mail")),
                  quick=args.quick)
    chosen = [importlib.import_module(f"scenario.{name}")
              for name in scenario.ORDER if not args.only or name in args.only]
    res: dict[str, Any] = {}
    for module in chosen:
        module.run(ctx, res)

    res["early_links"] = EARLY_LINKS["early"]
    res["load_end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    res["runtime"] = time.perf_counter() - started
    if args.notes and os.path.exists(args.notes):
        with open(args.notes, encoding="utf-8") as fh:
            res["notes"] = fh.read().strip()
    with open(os.path.join(args.work, "raw.json"), "w") as fh:
        json.dump(res, fh, default=str)
    write_report(args.out, info, args.server_desc, args.quick, res, chosen)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
