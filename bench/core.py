"""The shared core of the benchmark's scenarios: statistics, HTTP calls, the mail sink, the
database, the machine, and the run's context. Each measurement is a module of bench/scenario/.
"""
from __future__ import annotations

import dataclasses
import datetime
import email
import email.policy
import glob
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import psutil
import psycopg2
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

PASSWORD = "Bench-Passw0rd-2026"
MB = 1024 * 1024


def log(msg: str) -> None:
    print(f"[driver {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Context:
    """What every scenario may use: the command line, the seeded accounts, the database."""

    args: Any
    seed: dict[str, Any]
    conn: Any
    mailbox: MailBox
    quick: bool

    @property
    def admins(self) -> list[dict[str, Any]]:
        return self.seed["sysadmins"]


# -- statistics ---------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def med(values: list[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def yes(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


# -- HTTP -----------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, action: str, status: int, error: Any) -> None:
        super().__init__(f"{action}: HTTP {status}: {error}")
        self.status = status
        self.error = error


def api(session: requests.Session, base: str, action: str, token: str | None = None,
        data: dict | None = None, files: dict | None = None, get: bool = False,
        timeout: float = 120) -> tuple[Any, float]:
    """Call an action; return (result, seconds). Raises ApiError on failure."""
    headers = {"Authorization": token} if token else {}
    url = f"{base}/api/3/action/{action}"
    start = time.perf_counter()
    if get:
        resp = session.get(url, params=data, headers=headers, timeout=timeout)
    elif files:
        resp = session.post(url, data=data, files=files, headers=headers, timeout=timeout)
    else:
        resp = session.post(url, json=data or {}, headers=headers, timeout=timeout)
    elapsed = time.perf_counter() - start
    try:
        body = resp.json()
    except ValueError:
        raise ApiError(action, resp.status_code, resp.text[:300]) from None
    if not body.get("success"):
        raise ApiError(action, resp.status_code, body.get("error"))
    return body["result"], elapsed


def get_page(session: requests.Session, url: str, token: str | None = None,
             params: dict | None = None) -> float:
    headers = {"Authorization": token} if token else {}
    start = time.perf_counter()
    resp = session.get(url, params=params, headers=headers, timeout=60)
    elapsed = time.perf_counter() - start
    if resp.status_code != 200:
        raise RuntimeError(f"GET {url} {params}: HTTP {resp.status_code}")
    return elapsed


# -- mail -----------------------------------------------------------------------------------

class MailBox:
    """The SMTP sink's folder: one file per message, named after its first recipient."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.seen: set[str] = set()

    def link(self, address: str, timeout: float = 60.0) -> str:
        """The verification token of the newest unread email to ``address``."""
        deadline = time.monotonic() + timeout
        pattern = os.path.join(self.folder, f"{glob.escape(address.lower())}__*.eml")
        while time.monotonic() < deadline:
            for path in sorted(glob.glob(pattern), reverse=True):
                if path in self.seen:
                    continue
                with open(path, "rb") as fh:
                    msg = email.message_from_binary_file(fh, policy=email.policy.default)
                body = msg.get_body(("plain",))
                text = body.get_content() if body is not None else ""
                found = re.search(r"/dgaaccounts/verify/([A-Za-z0-9_\-]+)", text)
                if found:
                    self.seen.add(path)
                    return found.group(1)
            time.sleep(0.02)
        raise RuntimeError(f"no verification email for {address} within {timeout}s")


# An outbox that sent an email before committing the token it carries would let a client as
# fast as this one hold the link before the token exists (it happened once, since fixed in
# mail.py). Such a refusal is retried, counted and reported.
EARLY_LINKS = Counter()


def verify(session: requests.Session, base: str, token: str) -> tuple[Any, float]:
    for attempt in range(100):
        try:
            return api(session, base, "dgaaccounts_email_verify", data={"token": token})
        except ApiError as exc:
            if exc.status != 409 or "token" not in (exc.error or {}) or attempt == 99:
                raise
            EARLY_LINKS["early"] += 1
            time.sleep(0.02)
    raise AssertionError("unreachable")



# -- database -------------------------------------------------------------------------------

def db(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def sql(conn, statement: str, params: dict | None = None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(statement, params or {})
        return cur.fetchall() if cur.description else []




def analyze(conn) -> None:
    sql(conn, 'VACUUM ANALYZE dgaaccounts_request, dgaaccounts_audit, "user"')


def settle(conn, timeout: float = 60) -> None:
    """Let the jobs worker finish sending the emails of the previous step (it forks a process
    per job, which would steal the CPU from the next measurement), then pause a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sql(conn, "SELECT count(*) FROM dgaaccounts_outbox WHERE state = 'pending'")[0][0]:
            break
        time.sleep(0.2)
    time.sleep(1)


def counts(conn) -> tuple[int, int, int]:
    return sql(conn, "SELECT (SELECT count(*) FROM dgaaccounts_request),"
                     " (SELECT count(*) FROM dgaaccounts_audit),"
                     " (SELECT count(*) FROM \"user\")")[0]


# -- the report -------------------------------------------------------------------------------

def machine(conn) -> dict[str, str]:
    import ckan

    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    git = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    gunicorn = subprocess.run([os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                               "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "uname": " ".join(platform.uname()),
        "cpus": f"{os.cpu_count()} ({cpu})" if cpu else str(os.cpu_count()),
        "ram": f"{psutil.virtual_memory().total / 1024 ** 3:.1f} GiB",
        "ckan": ckan.__version__,
        "python": platform.python_version(),
        "postgres": sql(conn, "SHOW server_version")[0][0],
        "gunicorn": gunicorn,
        "commit": git + (" with uncommitted changes" if dirty else ""),
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }

