"""Shared by the security tests: a snapshot of everything the extension writes, sign-in and CSRF
helpers for CKAN's test app, and CKAN served by separate processes.

``ckan_servers`` starts two ``ckan -c <ini> run`` processes on loopback ports. They share the
test database and Redis (the environment's ``CKAN_SQLALCHEMY_URL``, ``CKAN_REDIS_URL`` and the
Solr stand-in's ``CKAN_SOLR_URL`` are passed on), so a limit or a lock that holds across them
holds across the web processes of a real deployment behind a load balancer.
"""
from __future__ import annotations

import configparser
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

import ckan.model as model
from ckan.plugins import toolkit as tk

from ckanext.dgaaccounts.tests.conftest import (  # noqa: F401 - shared helpers, imported here too
    _CSRF, EXT_TABLES, Baseline, csrf_token, ensure_plugins, free_port, reuse, sign_in, snapshot,
    stored_files,
)

# -- the plugin, once per module (tests/conftest.py) ------------------------------------------

@pytest.fixture(scope="module")
def _unload_plugins_after_module(_module_plugins) -> None:
    """Kept for older tests: the plugins now stay loaded for the session (tests/conftest.py)."""


@pytest.fixture
def plugin_loaded(with_plugins) -> None:
    """The plugin, loaded once for the session: ``with_plugins`` of tests/conftest.py, which
    keeps the plugins loaded."""


@pytest.fixture(autouse=True)
def _csrf_exemptions_start_clean() -> Iterator[None]:
    """Each test starts with no view of the extension exempted from CSRF, and leaves CKAN's
    exemptions as it found them.

    CKAN 2.12.0 exempts a view for the rest of the process as soon as one anonymous or
    API-token request reaches it (``csrf.exempt`` at request time, on a module-level object;
    2.11.5+ exempts per request). Without this, whether a test sees CSRF enforced would depend
    on which tests ran before it; ``test_web_safety`` shows the exemption itself.
    """
    from ckan.config.middleware import flask_app

    views = flask_app.csrf._exempt_views
    saved = set(views)
    views.difference_update({v for v in saved if v.startswith("ckanext.dgaaccounts.")})
    yield
    views.clear()
    views.update(saved)


@pytest.fixture(scope="module")
def module_app(_module_plugins, _module_apps) -> Any:
    """CKAN's test app, shared by all the tests of a module whatever their marks (and by the
    modules of the test process that ask for it). Made with the plugin loaded and the test
    configuration: CSRF on, and on CKAN 2.11 not waived for extensions
    (``ckan.csrf_protection.ignore_extensions = false``)."""
    import ckan.plugins.core
    from ckan.lib.app_globals import _CONFIG_CACHE
    from ckan.tests.helpers import _get_test_app

    ensure_plugins(tk.config, _module_plugins)
    assert tk.asbool(tk.config.get("WTF_CSRF_ENABLED", True))
    assert not tk.asbool(tk.config.get("ckan.csrf_protection.ignore_extensions", True))
    _CONFIG_CACHE.clear()
    key = ("module_app", tuple(ckan.plugins.core._PLUGINS))
    if key not in _module_apps:
        _module_apps[key] = _get_test_app()
    return _module_apps[key]


def count(table: str, where: str = "TRUE", **params: Any) -> int:
    model.Session.rollback()
    value = model.Session.execute(
        sa.text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar()
    model.Session.rollback()
    return int(value)


# -- pages -----------------------------------------------------------------------------------

def _cookie_domain() -> str:
    # CKAN's test client talks to ckan.site_url's host: its cookies are set for that domain.
    return urlsplit(tk.config["ckan.site_url"]).hostname or "localhost"


def session_cookie(client: Any) -> str | None:
    """The value of the browser's session cookie (CKAN's cookie sessions are self-contained)."""
    cookie = client.get_cookie("ckan", domain=_cookie_domain())
    return cookie.value if cookie is not None else None


def browser(app: Any, cookie: str | None = None) -> Any:
    """A new test client, carrying ``cookie`` (a copied session) if given."""
    client = app.test_client()
    if cookie:
        client.set_cookie("ckan", cookie, domain=_cookie_domain())
    return client


def without_csrf(html: str) -> str:
    """A page with its per-session CSRF tokens blanked, to compare two answers."""
    html = _CSRF.sub('name="_csrf_token" value=""', html)
    return re.sub(r'(<meta name="_csrf_token" content=")[^"]*', r"\1", html)


@pytest.fixture
def _no_rate_limit() -> None:
    # Tests that send the same address or client many times; the abuse limits have their own
    # tests (test_abuse_limits.py). CKAN's test plugin restores the configuration each test.
    tk.config["ckanext.dgaaccounts.rate_limit"] = 1000000


def browser_session(app: Any, cookie: str | None = None) -> tuple[str, str]:
    """A browser's session cookie once it holds a CSRF token, and the token."""
    client = browser(app, cookie)
    token = csrf_token(client.get("/dgaaccounts/resend").body)
    return session_cookie(client), token


def link_session(app: Any, request_id: str, token: str) -> tuple[str, str]:
    """The session of a browser that opened the applicant link of a request from its email."""
    client = browser(app)
    opened = client.get(f"/dgaaccounts/request/{request_id}?token={token}",
                        follow_redirects=False)
    assert opened.status_code == 302
    return browser_session(app, session_cookie(client))


# -- CKAN in separate processes ------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def error_keys(self) -> set[str]:
        error = self.json.get("error") or {}
        return {k for k in error if not k.startswith("__")}


def http_call(url: str, method: str = "GET", *, body: bytes | None = None,
              headers: dict[str, str] | None = None, source: str = "127.0.0.1",
              timeout: float = 60) -> Answer:
    """One HTTP request on its own connection, from the loopback ``source`` address (any
    127.x.y.z: each one is another client to CKAN's ``remote_addr``)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path or "/", body=body, headers=headers or {})
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + value.encode("utf-8") + b"\r\n")
    for name, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def api(base: str, action: str, data: dict[str, Any] | None = None, *, token: str | None = None,
        source: str = "127.0.0.1", files: dict[str, tuple[str, bytes]] | None = None) -> Answer:
    """Call an action over HTTP, JSON or (with ``files``) multipart."""
    headers = {"Authorization": token} if token else {}
    if files:
        body, ctype = multipart({k: str(v) for k, v in (data or {}).items()}, files)
    else:
        body, ctype = json.dumps(data or {}).encode(), "application/json"
    headers["Content-Type"] = ctype
    return http_call(f"{base}/api/3/action/{action}", "POST", body=body, headers=headers,
                     source=source)


@dataclass
class CkanProcess:
    url: str
    proc: subprocess.Popen
    log_path: str

    def log_tail(self, lines: int = 60) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])


@dataclass
class CkanServers:
    servers: list[CkanProcess]
    ini: str
    storage_path: str
    rate_limit: int
    logs: list[str] = field(default_factory=list)

    def __getitem__(self, index: int) -> CkanProcess:
        return self.servers[index]

    def __iter__(self) -> Iterator[CkanProcess]:
        return iter(self.servers)

    def log_tails(self) -> str:
        return "\n".join(f"--- {s.url}\n{s.log_tail()}" for s in self.servers)


SERVER_RATE_LIMIT = 3


def server_ini(base_ini: str, target: str, **options: str) -> str:
    """Write a copy of ``base_ini`` to ``target`` with ``options`` set in ``[app:main]``.

    Each ini gets a ``ckan.storage_path`` of its own (beside it) unless one is given: CKAN
    writes there at start-up (``build_js_translations`` creates ``i18n/js`` without
    ``exist_ok``), so two processes starting on one path race and one dies.
    """
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep SECRET_KEY's case
    parser.read(base_ini)
    options.setdefault("ckan.storage_path", f"{target}.storage")
    for key, value in options.items():
        parser.set("app:main", key, value)
    with open(target, "w", encoding="utf-8") as f:
        parser.write(f)
    return target


def ckan_command() -> str:
    """The ``ckan`` script of the virtualenv running the tests (2.11 or 2.12)."""
    return os.path.join(os.path.dirname(sys.executable), "ckan")


def start_ckan(ini: str, *args: str, log_path: str) -> subprocess.Popen:
    """Start ``ckan -c ini ARGS`` in its own process group, with the test environment."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    env = dict(os.environ)
    # The ini's own storage path (server_ini gives each one), not an xdist worker's.
    env.pop("CKAN_STORAGE_PATH", None)
    proc = subprocess.Popen(
        [ckan_command(), "-c", ini, *args], stdout=log, stderr=subprocess.STDOUT,
        env=env, start_new_session=True)
    log.close()
    return proc


def descendants(pid: int) -> list[int]:
    """Ids of the processes started by ``pid``, and by them (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """End a process we started and the processes it started, by their ids.

    Its own process group is not enough: an RQ worker's work horse calls ``setsid``.
    """
    if proc.poll() is not None:
        return
    family = descendants(proc.pid)
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        for pid in [*family, proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def ckan_servers(request, tmp_path_factory) -> Iterator[CkanServers]:
    """Two CKAN web processes (``ckan run``) on loopback, sharing PostgreSQL and Redis.

    Rate limit: ``SERVER_RATE_LIMIT`` per client address and per subject in 10 minutes (tests
    that are not about limits clear the counters with :func:`clear_rate_limits`).
    """
    base = os.path.abspath(request.config.option.ckan_ini)
    tmp = tmp_path_factory.mktemp("ckan-servers")
    ports = [free_port()]
    while len(ports) < 2:
        ports += {free_port()} - set(ports)
    storage = str(tmp / "private")  # the documents: shared, as on a real cluster
    options = {
        "ckan.site_url": f"http://127.0.0.1:{ports[0]}",
        "ckanext.dgaaccounts.storage_path": storage,
        "ckanext.dgaaccounts.rate_limit": str(SERVER_RATE_LIMIT),
        "ckanext.dgaaccounts.rate_limit_window": "600",
        # Nothing listens there: the web processes only queue emails, never send them.
        "smtp.server": f"127.0.0.1:{free_port()}",
    }
    inis = [server_ini(base, str(tmp / f"server-{port}.ini"), **options) for port in ports]
    servers: list[CkanProcess] = []
    try:
        for port, ini in zip(ports, inis, strict=True):
            log_path = str(tmp / f"ckan-{port}.log")
            proc = start_ckan(ini, "run", "-H", "127.0.0.1", "-p", str(port), "-r", "-t",
                              log_path=log_path)
            servers.append(CkanProcess(f"http://127.0.0.1:{port}", proc, log_path))

        def ready(server: CkanProcess) -> bool:
            if server.proc.poll() is not None:
                raise AssertionError(f"ckan run exited:\n{server.log_tail()}")
            try:
                return http_call(server.url + "/api/3/action/status_show", timeout=2).status == 200
            except (OSError, http.client.HTTPException):
                return False

        for server in servers:
            wait_until(lambda s=server: ready(s), 90, f"CKAN at {server.url}")
        yield CkanServers(servers, inis[0], storage, SERVER_RATE_LIMIT)
    finally:
        for server in servers:
            stop(server.proc)


def clear_rate_limits() -> None:
    from ckan.lib.redis import connect_to_redis

    redis = connect_to_redis()
    keys = list(redis.scan_iter("dgaaccounts:rate:*"))
    if keys:
        redis.delete(*keys)


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` in threads released at the same instant; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results


# -- requests in a known state, made through the actions ---------------------------------------

ANONYMOUS: dict[str, Any] = {"user": "", "ignore_auth": False}


def as_user(name: str) -> dict[str, Any]:
    return {"user": name, "ignore_auth": False}


def agency_request(name: str, email: str, *, organization: str = "dga",
                   document: bytes | None = None, filename: str = "signed-form.pdf",
                   verify: bool = True) -> dict[str, Any]:
    """An agency registration by ``name``: verified unless ``verify`` is false; submitted if a
    ``document`` came with it. Returns its ``id``, ``user_id``, applicant ``token`` and the
    ``verify`` token (used, once verified)."""
    from ckan.tests import helpers

    from ckanext.dgaaccounts import tokens
    from ckanext.dgaaccounts.model import Request
    from ckanext.dgaaccounts.tests.conftest import Upload, registration

    data = registration(name=name, email=email, organization=organization, agency_name="")
    if document is not None:
        data["signed_form"] = Upload(document, filename)
    result = helpers.call_action("dgaaccounts_agency_register", context=dict(ANONYMOUS), **data)
    req = model.Session.get(Request, result["request_id"])
    secret = tokens.mint(req, tokens.VERIFY)  # what the delivered email would carry
    user_id = req.user_id
    model.Session.commit()
    out = {"id": result["request_id"], "user_id": user_id, "verify": secret, "token": None}
    if verify:
        verified = helpers.call_action("dgaaccounts_email_verify", context=dict(ANONYMOUS),
                                       token=secret)
        out["token"] = verified["applicant_token"]
    return out


def developer_request(name: str, email: str) -> dict[str, Any]:
    """A developer sign-up awaiting verification, with a working ``verify`` token."""
    from ckan.tests import helpers

    from ckanext.dgaaccounts import tokens
    from ckanext.dgaaccounts.model import Request

    result = helpers.call_action(
        "dgaaccounts_developer_register", context=dict(ANONYMOUS), name=name,
        fullname=f"Developer {name}", email=email, password="Dev-Passw0rd-42")
    req = model.Session.get(Request, result["request_id"])
    secret = tokens.mint(req, tokens.VERIFY)
    user_id = req.user_id
    model.Session.commit()
    return {"id": result["request_id"], "user_id": user_id, "verify": secret}


def account_request(user_name: str, kind: str = "cancellation",
                    document: bytes | None = None) -> dict[str, Any]:
    """A cancellation or suspension asked by ``user_name``; submitted if ``document``."""
    from ckan.tests import helpers

    from ckanext.dgaaccounts.tests.conftest import Upload

    req = helpers.call_action("dgaaccounts_cancellation_request_create",
                              context=as_user(user_name), kind=kind, reason="ย้ายหน่วยงาน")
    if document is not None:
        helpers.call_action("dgaaccounts_request_document_upload", context=as_user(user_name),
                            id=req["id"], signed_form=Upload(document, "signed.pdf"))
    return {"id": req["id"], "user_id": req["user_id"]}


def decide(sysadmin: str, decision: str, request_id: str, **extra: Any) -> dict[str, Any]:
    from ckan.tests import helpers

    if decision in ("reject", "return"):
        extra.setdefault("reason", "เอกสารไม่ครบ")
    return helpers.call_action(f"dgaaccounts_request_{decision}", context=as_user(sysadmin),
                               id=request_id, **extra)
