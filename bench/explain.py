"""Explain the queue: the SQL that ``dgaaccounts_request_list`` and the queue page really run.

    python bench/explain.py var/bench/ext.ini SYSADMIN_NAME SYSADMIN_TOKEN PLANS_FILE > summary.json

For each scenario of bench/scenarios.py, calls the action in-process (as the sysadmin), records
every SQL statement it sends (SQLAlchemy's ``before_cursor_execute``), and runs
``EXPLAIN (ANALYZE, BUFFERS)`` on each SELECT with its parameters. Also counts the statements
at page sizes 20 and 100 (a query per row would show as a difference) and those of one GET of
the queue page. The full plans go to PLANS_FILE; a JSON summary to stdout.
"""
from __future__ import annotations

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scenarios import LIST_SCENARIOS, PAGE_SCENARIOS  # noqa: E402

from ckan.cli import load_config  # noqa: E402
from ckan.config.middleware import make_app  # noqa: E402

_SCAN_RE = re.compile(
    r"(Seq Scan on \S+|(?:Parallel )?Index (?:Only )?Scan(?: Backward)? using \S+ on \S+"
    r"|Bitmap Index Scan on \S+)")
_TIME_RE = re.compile(r"Execution Time: ([0-9.]+) ms")
_IGNORED = re.compile(r"^\s*(SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT|SET|SHOW)\b", re.I)


def main() -> None:
    ini, admin_name, admin_token, plans_path = sys.argv[1:5]
    app = make_app(load_config(ini))
    import ckan.model as model
    from ckan.plugins import toolkit as tk
    from sqlalchemy import event

    captured: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not _IGNORED.match(statement):
            captured.append((statement, parameters))

    engine = model.meta.engine
    event.listen(engine, "before_cursor_execute", record)
    summary: dict = {"list": {}, "pages": {}}
    plans: list[str] = []
    flask_app = app._wsgi_app

    def run_action(params: dict) -> list[tuple[str, object]]:
        with flask_app.test_request_context():
            context = {"user": admin_name}
            tk.get_action("dgaaccounts_request_list")(context, dict(params))  # warm
            captured.clear()
            tk.get_action("dgaaccounts_request_list")({"user": admin_name}, dict(params))
            statements = list(captured)
            model.Session.remove()
        return statements

    for name, params in LIST_SCENARIOS.items():
        statements = run_action(dict(params, limit=20))
        counted_100 = len(run_action(dict(params, limit=100)))
        entry = {"statements_limit_20": len(statements), "statements_limit_100": counted_100,
                 "explained": []}
        plans.append(f"=== dgaaccounts_request_list {json.dumps(params)} (limit 20)")
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            raw = engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = "\n".join(row[0] for row in cur.fetchall())
                raw.rollback()
            finally:
                raw.close()
            scans = sorted(set(_SCAN_RE.findall(plan)))
            took = _TIME_RE.search(plan)
            entry["explained"].append({
                "sql": " ".join(statement.split())[:160],
                "execution_ms": float(took.group(1)) if took else None,
                "scans": scans,
            })
            plans.append(" ".join(statement.split()))
            plans.append(plan)
            plans.append("")
        summary["list"][name] = entry

    # The whole WSGI stack (CKAN's i18n middleware sits outside the Flask app).
    from werkzeug.test import Client

    client = Client(app)
    for name, args in PAGE_SCENARIOS.items():
        client.get("/ckan-admin/dgaaccounts/", query_string=args,
                   headers={"Authorization": admin_token})  # warm
        captured.clear()
        resp = client.get("/ckan-admin/dgaaccounts/", query_string=args,
                          headers={"Authorization": admin_token})
        summary["pages"][name] = {"status": resp.status_code, "statements": len(captured)}
        plans.append(f"=== queue page {json.dumps(args)}: {len(captured)} statements")
        plans.extend(" ".join(s.split())[:300] for s, _ in captured)
        plans.append("")

    with open(plans_path, "w", encoding="utf-8") as out:
        out.write("\n".join(plans) + "\n")
    json.dump(summary, sys.stdout)


if __name__ == "__main__":
    main()
