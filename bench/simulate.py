"""A month of account requests on a fake clock, once per approval mode, with escalation.

    python bench/simulate.py var/bench/ext-1k.ini [--requests 5000] [--organizations 300]
        [--days 30] [--seed 1] > summary.json

Runs in-process on the database of the ini, through the extension's real actions (CKAN's
``get_action`` with each person's name: the auth functions, the state machine, the audit trail,
the outbox, escalation), the clock frozen and moved by ``freezegun`` from event to event. Per
mode (``central``, ``endorse``, ``delegated``), with its own organizations, people and requests:

* 300 organizations, of very unequal size (the request share of the organization of rank r is
  proportional to 1 / r^0.8); 5% have no active admin, the others one to three admins;
* 5,000 agency registrations over 30 days, submitted mostly in Bangkok office hours on weekdays
  (85%), some in the evening (10%) and at weekends (5%);
* organization admins answer (endorse in ``endorse``, approve or reject in ``delegated``) after
  a delay drawn per organization: prompt (55%: log-normal, median 1.5 h), slow (30%: median
  8 h) or never (15%); an answer that falls outside office hours is put off to the next morning
  six times in ten;
* three sysadmins work Monday to Friday, 08:30 to 16:30 Bangkok time, a decision taking 4 to 8
  minutes (a smaller run, ``--requests 500``, keeps them as busy as 5,000 would: ``--load-of``
  makes each decision take 10 times longer); they take escalated requests first, then the one
  due first; in ``central`` every request is theirs, in ``endorse`` those the agency answered
  and the escalated ones, in ``delegated`` the escalated ones;
* ``dgaaccounts_requests_escalate`` runs from cron every minute (the simulation skips the
  minutes in which nothing can be due, which changes nothing), with ``office_hours`` set to the
  sysadmins' hours (``--office-hours ''`` for the plain threshold) in ``Asia/Bangkok``.

The summary (stdout, JSON) gives per mode the share decided within 24 hours, the median and 90th
percentile time to decision, the escalations and how late each fired after its threshold, and
what was left undecided.
"""
from __future__ import annotations

import argparse
import datetime
import heapq
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
import uuid
import zoneinfo
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ckan.cli import load_config  # noqa: E402
from ckan.config.middleware import make_app  # noqa: E402

BANGKOK = zoneinfo.ZoneInfo("Asia/Bangkok")
MODES = ("central", "endorse", "delegated")
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
# A Monday, 00:00 in Bangkok, as naive UTC (what the extension stores).
START = datetime.datetime(2026, 11, 1, 17, 0)


def local(t: datetime.datetime) -> datetime.datetime:
    return t.replace(tzinfo=datetime.timezone.utc).astimezone(BANGKOK)


def utc(t: datetime.datetime) -> datetime.datetime:
    return t.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def office_time(t: datetime.datetime, start: float = 8.5, end: float = 16.5) -> datetime.datetime:
    """``t`` if it falls in Bangkok office hours (Monday to Friday), else the next opening."""
    here = local(t)
    for _ in range(10):
        hour = here.hour + here.minute / 60 + here.second / 3600
        if here.weekday() < 5 and start <= hour < end:
            return utc(here)
        if here.weekday() < 5 and hour < start:
            return utc(here.replace(hour=int(start), minute=int(start % 1 * 60), second=0,
                                    microsecond=0))
        here = (here + datetime.timedelta(days=1)).replace(
            hour=int(start), minute=int(start % 1 * 60), second=0, microsecond=0)
        if here.weekday() < 5:
            return utc(here)
    raise AssertionError("no office hours in ten days")


class People:
    """Who answers, and when: organizations with their admins and their answering habits."""

    def __init__(self, rng: random.Random, organizations: int) -> None:
        self.rng = rng
        self.habit = [self._habit() for _ in range(organizations)]
        self.admins = [0 if rng.random() < 0.05 else rng.randint(1, 3)
                       for _ in range(organizations)]
        weights = [1 / (rank + 1) ** 0.8 for rank in range(organizations)]
        rng.shuffle(weights)
        self.weights = weights

    def _habit(self) -> str:
        draw = self.rng.random()
        return "prompt" if draw < 0.55 else "slow" if draw < 0.85 else "never"

    def answer_delay(self, org: int) -> datetime.timedelta | None:
        habit = self.habit[org]
        if habit == "never":
            return None
        median = 1.5 if habit == "prompt" else 8.0
        sigma = 1.0 if habit == "prompt" else 0.8
        return datetime.timedelta(hours=self.rng.lognormvariate(math.log(median), sigma))

    def answer_time(self, org: int, submitted: datetime.datetime) -> datetime.datetime | None:
        delay = self.answer_delay(org)
        if delay is None:
            return None
        at = submitted + delay
        opened = office_time(at, 8.0, 18.0)
        if opened != at and self.rng.random() < 0.6:
            return opened + datetime.timedelta(minutes=self.rng.uniform(0, 60))
        return at


def arrivals(rng: random.Random, count: int, days: int) -> list[datetime.datetime]:
    """Submission times over ``days`` from ``START``: 85% in weekday office hours, 10% weekday
    evenings, 5% at weekends (Bangkok time)."""
    weekdays = [d for d in range(days) if (START + datetime.timedelta(days=d, hours=7))
                .weekday() < 5]
    weekends = [d for d in range(days) if d not in weekdays]
    out = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.85 or not weekends:
            day, hour = rng.choice(weekdays), rng.uniform(8.5, 16.5)
        elif draw < 0.95:
            day, hour = rng.choice(weekdays), rng.choice([rng.uniform(17, 22), rng.uniform(6, 8)])
        else:
            day, hour = rng.choice(weekends), rng.uniform(9, 20)
        out.append(START + datetime.timedelta(days=day, hours=hour))
    return sorted(out)


# -- the database ---------------------------------------------------------------------------------

def seed(model: Any, tag: str, mode: str, people: People, requests: int,
         rng: random.Random, times: list[datetime.datetime]) -> dict[str, Any]:
    """Organizations, their admins, the applicants and their requests awaiting the signed form,
    written with SQL (the set-up is not what is measured)."""
    conn = model.Session.connection()
    created = START - datetime.timedelta(days=2)
    orgs = [f"sim-{tag}-org-{n}" for n in range(len(people.admins))]
    conn.exec_driver_sql(
        'INSERT INTO "group" (id, name, title, type, is_organization, state, approval_status, '
        "created, image_url, description) SELECT o, o, 'หน่วยงาน ' || o, 'organization', true, "
        "'active', 'approved', %(created)s, '', '' FROM unnest(%(orgs)s::text[]) AS o",
        {"orgs": orgs, "created": created})
    admins: dict[int, list[str]] = {}
    rows = []
    for n, count in enumerate(people.admins):
        admins[n] = [f"sim-{tag}-oa-{n}-{k}" for k in range(count)]
        rows += [(name, orgs[n]) for name in admins[n]]
    conn.exec_driver_sql(
        'INSERT INTO "user" (id, name, email, fullname, password, created, state, sysadmin, '
        "plugin_extras) SELECT u, u, u || '@agency.go.th', u, '!', %(created)s, 'active', "
        "false, '{\"dgaaccounts\": {\"locale\": \"th\"}}'::jsonb FROM unnest(%(users)s::text[]) "
        "AS u", {"users": [u for u, _o in rows], "created": created})
    conn.exec_driver_sql(
        "INSERT INTO member (id, table_id, group_id, table_name, capacity, state) "
        "SELECT md5(random()::text || u), u, o, 'user', 'admin', 'active' "
        "FROM unnest(%(users)s::text[], %(orgs)s::text[]) AS m(u, o)",
        {"users": [u for u, _o in rows], "orgs": [o for _u, o in rows]})
    conn.exec_driver_sql(
        "INSERT INTO dgaaccounts_approval_mode (organization_id, mode, updated) "
        "SELECT o, %(mode)s, %(created)s FROM unnest(%(orgs)s::text[]) AS o",
        {"orgs": orgs, "mode": mode, "created": created})
    org_of = rng.choices(range(len(orgs)), weights=people.weights, k=requests)
    ids = [f"sim-{tag}-r-{n}" for n in range(requests)]
    users = [f"sim-{tag}-u-{n}" for n in range(requests)]
    conn.exec_driver_sql(
        'INSERT INTO "user" (id, name, email, fullname, password, created, state, sysadmin, '
        "plugin_extras) SELECT u, u, u || '@agency.go.th', u, '!', %(created)s, 'pending', "
        "false, '{\"dgaaccounts\": {\"locale\": \"th\"}}'::jsonb FROM unnest(%(users)s::text[]) "
        "AS u", {"users": users, "created": created})
    conn.exec_driver_sql(
        "INSERT INTO dgaaccounts_request (id, reference, kind, state, user_id, email, "
        "organization_id, details, locale, created, updated, verified) "
        "SELECT r, 'SIM-' || upper(%(tag)s) || '-' || n, 'agency_registration', "
        "'awaiting_document', u, u || '@agency.go.th', o, '{}'::jsonb, 'th', %(created)s, "
        "%(created)s, %(created)s "
        "FROM unnest(%(ids)s::text[], %(users)s::text[], %(orgs)s::text[]) "
        "WITH ORDINALITY AS x(r, u, o, n)",
        {"tag": tag, "ids": ids, "users": users, "orgs": [orgs[o] for o in org_of],
         "created": created})
    model.Session.commit()
    return {"orgs": orgs, "admins": admins, "org_of": org_of, "ids": ids, "times": times}


def sysadmins(model: Any) -> list[str]:
    names = [f"sim-root-{n}" for n in range(1, 4)]
    conn = model.Session.connection()
    conn.exec_driver_sql(
        'INSERT INTO "user" (id, name, email, fullname, password, created, state, sysadmin, '
        "plugin_extras) SELECT u, u, u || '@dga.or.th', u, '!', now(), 'active', true, "
        "'{\"dgaaccounts\": {\"locale\": \"th\"}}'::jsonb FROM unnest(%(users)s::text[]) AS u "
        "ON CONFLICT (id) DO NOTHING", {"users": names})
    model.Session.commit()
    return names


# -- one month ------------------------------------------------------------------------------------

class Month:
    """The event loop of one mode: arrivals, answers, cron, sysadmins."""

    def __init__(self, tk: Any, model: Any, freezer: Any, mode: str, data: dict[str, Any],
                 people: People, roots: list[str], rng: random.Random) -> None:
        self.tk, self.model, self.freezer, self.mode = tk, model, freezer, mode
        self.data, self.people, self.roots, self.rng = data, people, roots, rng
        self.events: list[tuple[datetime.datetime, int, str, Any]] = []
        self.serial = itertools.count()
        self.queue: dict[str, tuple[int, datetime.datetime]] = {}  # sysadmins' queue
        self.idle = set(range(len(roots)))
        self.thresholds: list[tuple[datetime.datetime, str]] = []
        self.cron_at: datetime.datetime | None = None
        self.due_of: dict[str, datetime.datetime] = {}
        self.refused: dict[str, int] = {}
        self.calls = 0
        self.site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})["name"]
        self.load = 1.0

    def at(self, when: datetime.datetime, kind: str, payload: Any = None) -> None:
        heapq.heappush(self.events, (when, next(self.serial), kind, payload))

    def act(self, user: str, action: str, data: dict[str, Any]) -> bool:
        self.calls += 1
        try:
            self.tk.get_action(action)({"user": user, "ignore_auth": False}, data)
            return True
        except (self.tk.ValidationError, self.tk.NotAuthorized) as exc:
            key = f"{action}: {type(exc).__name__}"
            self.refused[key] = self.refused.get(key, 0) + 1
            self.model.Session.rollback()
            return False

    def run(self) -> None:
        for n, when in enumerate(self.data["times"]):
            self.at(when, "arrive", n)
        while self.events:
            when, _s, kind, payload = heapq.heappop(self.events)
            self.freezer.move_to(when.replace(tzinfo=datetime.timezone.utc))
            getattr(self, "on_" + kind)(when, payload)
            self.model.Session.remove()

    # events ------------------------------------------------------------------------------------

    def on_arrive(self, when: datetime.datetime, n: int) -> None:
        from ckanext.dgaaccounts import escalation, workflow
        from ckanext.dgaaccounts.model import Request

        req = self.model.Session.get(Request, self.data["ids"][n])
        workflow.transition(req, "upload_document", req.user_id)
        self.model.Session.commit()
        req = self.model.Session.get(Request, req.id)
        self.due_of[req.id] = req.due
        org = self.data["org_of"][n]
        threshold = escalation.threshold_of(req)
        if self.mode != "central" and not self.people.admins[org]:
            threshold = when  # no one to wait for: at once
        heapq.heappush(self.thresholds, (threshold, req.id))
        self._plan_cron(when)
        if self.mode == "central":
            self._enqueue(req.id, escalated=False)
            return
        answer = self.people.answer_time(org, when) if self.people.admins[org] else None
        if answer is not None:
            self.at(answer, "answer", n)

    def on_answer(self, when: datetime.datetime, n: int) -> None:
        org = self.data["org_of"][n]
        admin = self.rng.choice(self.data["admins"][org])
        rid = self.data["ids"][n]
        yes = self.rng.random() < 0.92
        if self.mode == "endorse":
            done = self.act(admin, "dgaaccounts_request_endorse", {"id": rid, "note": "ok"}) \
                if yes else self.act(admin, "dgaaccounts_request_decline",
                                     {"id": rid, "reason": "ไม่ใช่เจ้าหน้าที่ของหน่วยงาน"})
            if done:
                self._enqueue(rid, escalated=False)
        elif yes:
            self.act(admin, "dgaaccounts_request_approve", {"id": rid, "role": "editor"})
        else:
            self.act(admin, "dgaaccounts_request_reject",
                     {"id": rid, "reason": "ไม่ใช่เจ้าหน้าที่ของหน่วยงาน"})

    def on_cron(self, when: datetime.datetime, _payload: Any) -> None:
        if when != self.cron_at:  # superseded by an earlier run
            return
        self.cron_at = None
        result = self.tk.get_action("dgaaccounts_requests_escalate")(
            {"user": self.site_user, "ignore_auth": False}, {})
        for item in result["escalated"]:
            if item["id"] in self.due_of:  # not another run's left-overs in the same database
                self._enqueue(item["id"], escalated=True)
        while self.thresholds and self.thresholds[0][0] <= when:
            heapq.heappop(self.thresholds)
        self._plan_cron(when)

    def on_pick(self, when: datetime.datetime, who: int) -> None:
        opened = office_time(when)
        if opened != when:
            self.at(opened, "pick", who)
            return
        rid = self._next_in_queue()
        if rid is None:
            self.idle.add(who)
            return
        minutes = self.rng.uniform(4, 8) * self.load
        self.at(when + datetime.timedelta(minutes=minutes), "decide", (who, rid))

    def on_decide(self, when: datetime.datetime, payload: tuple[int, str]) -> None:
        who, rid = payload
        root = self.roots[who]
        if self.rng.random() < 0.92:
            self.act(root, "dgaaccounts_request_approve", {"id": rid, "role": "editor"})
        else:
            self.act(root, "dgaaccounts_request_reject", {"id": rid, "reason": "เอกสารไม่ครบ"})
        self.at(when, "pick", who)

    # helpers -----------------------------------------------------------------------------------

    def _plan_cron(self, now: datetime.datetime) -> None:
        """The next whole minute at which an escalation can be due (cron runs every minute)."""
        if not self.thresholds:
            return
        first = max(self.thresholds[0][0], now)
        tick = first.replace(second=0, microsecond=0)
        if tick < first:
            tick += MINUTE
        if self.cron_at is None or tick < self.cron_at:
            self.cron_at = tick
            self.at(tick, "cron")

    def _enqueue(self, rid: str, escalated: bool) -> None:
        rank = 0 if escalated else 1
        if rid in self.queue:
            rank = min(rank, self.queue[rid][0])
        self.queue[rid] = (rank, self.due_of[rid])
        now = self._now()
        for who in sorted(self.idle):
            self.idle.discard(who)
            self.at(now, "pick", who)

    def _next_in_queue(self) -> str | None:
        from ckanext.dgaaccounts.model import Request

        while self.queue:
            rid = min(self.queue, key=lambda r: (self.queue[r][0], self.queue[r][1], r))
            del self.queue[rid]
            state = self.model.Session.query(Request.state).filter(Request.id == rid).scalar()
            if state == "submitted":
                return rid
        return None

    def _now(self) -> datetime.datetime:
        from ckanext.dgaaccounts.model import utcnow

        return utcnow()


def figures(model: Any, tag: str) -> dict[str, Any]:
    conn = model.Session.connection()
    rows = conn.exec_driver_sql(
        "SELECT r.state, extract(epoch FROM r.decided - r.submitted), r.decided_by IN "
        "(SELECT id FROM \"user\" WHERE sysadmin) FROM dgaaccounts_request r "
        "WHERE r.id LIKE %(prefix)s", {"prefix": f"sim-{tag}-r-%"}).fetchall()
    decided = [(s, secs, by_root) for s, secs, by_root in rows if s in ("approved", "rejected")]
    times = sorted(float(secs) for _s, secs, _b in decided)
    within = sum(1 for t in times if t <= 24 * 3600)
    late = conn.exec_driver_sql(
        "SELECT e.reason, extract(epoch FROM e.escalated - e.threshold) FROM "
        "dgaaccounts_escalation e WHERE e.request_id LIKE %(prefix)s",
        {"prefix": f"sim-{tag}-r-%"}).fetchall()
    twice = conn.exec_driver_sql(
        "SELECT count(*) FROM (SELECT request_id FROM dgaaccounts_audit WHERE action = "
        "'escalate' AND request_id LIKE %(prefix)s GROUP BY request_id HAVING count(*) > 1) x",
        {"prefix": f"sim-{tag}-r-%"}).scalar()
    lateness = [float(x) for _r, x in late]

    def q(values: list[float], p: float) -> float | None:
        if not values:
            return None
        pos = p * (len(values) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(values) - 1)
        return values[lo] + (values[hi] - values[lo]) * (pos - lo)

    model.Session.rollback()
    return {
        "requests": len(rows), "decided": len(decided), "within_24h": within,
        "within_24h_share": within / len(rows) if rows else None,
        "median_hours": (statistics.median(times) / 3600) if times else None,
        "p90_hours": (q(times, 0.9) or 0) / 3600 if times else None,
        "decided_by_sysadmins": sum(1 for _s, _t, by_root in decided if by_root),
        "undecided": len(rows) - len(decided),
        "escalations": len(late),
        "escalations_no_admin": sum(1 for r, _x in late if r == "no_admin"),
        "escalation_late_max_seconds": max(lateness) if lateness else None,
        "escalation_late_over_60s": sum(1 for x in lateness if x > 60),
        "escalated_twice": int(twice),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ini")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--organizations", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--load-of", type=int, default=5000,
                        help="a smaller run keeps the sysadmins as busy as with this many "
                             "requests: each decision takes load-of / requests times longer")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--office-hours", default="mon-fri 08:30-16:30",
                        help="ckanext.dgaaccounts.office_hours for the run (the simulated "
                             "sysadmins' hours; '' for the plain 80%% threshold)")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="another CKAN option for the run, e.g. "
                             "ckanext.dgaaccounts.escalation_lead_minutes=120")
    args = parser.parse_args()
    app = make_app(load_config(args.ini))
    import ckan.model as model
    from ckan.plugins import toolkit as tk

    # The portal's zone and the sysadmins' hours, as a DGA portal would set them.
    tk.config["ckan.display_timezone"] = "Asia/Bangkok"
    tk.config["ckanext.dgaaccounts.office_hours"] = args.office_hours
    settings = dict(item.split("=", 1) for item in args.set)
    tk.config.update(settings)
    from freezegun import freeze_time
    from sqlalchemy import event

    # Durability is not what is measured: commits need not wait for the disk.
    event.listen(model.meta.engine, "connect", lambda conn, _record: _no_fsync_wait(conn))
    model.meta.engine.dispose()

    out: dict[str, Any] = {"requests": args.requests, "organizations": args.organizations,
                           "days": args.days, "seed": args.seed,
                           "office_hours": args.office_hours, "settings": settings,
                           "decision_minutes": [4 * max(args.load_of / args.requests, 1.0),
                                                8 * max(args.load_of / args.requests, 1.0)],
                           "modes": {}}
    with app._wsgi_app.test_request_context():
        roots = sysadmins(model)
        for mode in args.modes:
            started = time.perf_counter()
            rng = random.Random(f"{args.seed}-people")  # the same people in every mode
            people = People(rng, args.organizations)
            times = arrivals(random.Random(f"{args.seed}-arrivals"), args.requests, args.days)
            tag = f"{mode}{uuid.uuid4().hex[:4]}"
            data = seed(model, tag, mode, people, args.requests,
                        random.Random(f"{args.seed}-orgs"), times)
            with freeze_time(START) as freezer:
                month = Month(tk, model, freezer, mode, data, people, roots,
                              random.Random(f"{args.seed}-{mode}"))
                month.load = max(args.load_of / args.requests, 1.0)
                month.run()
            result = figures(model, tag)
            result.update(seconds=time.perf_counter() - started, actions=month.calls,
                          refused=month.refused)
            out["modes"][mode] = result
            print(f"[simulate] {mode}: {json.dumps(result)}", file=sys.stderr, flush=True)
    json.dump(out, sys.stdout)


def _no_fsync_wait(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit TO off")


if __name__ == "__main__":
    main()
