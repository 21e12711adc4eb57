"""Fixtures shared by the extension's tests: real PostgreSQL, Redis and SMTP on loopback."""
from __future__ import annotations

import email
import email.policy
import graphlib
import io
import logging
import random
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from ckanext.dgaaccounts.tests import solr_stub

# CKAN core needs Solr for organizations; no Solr can run here, so the tests use the loopback
# stand-in. It must be up before CKAN reads its config (pytest_sessionstart), hence at import.
# Each test process (each xdist worker) has its own, on a port the kernel picked.
_SOLR, _SOLR_URL = solr_stub.start_in_thread()
import os  # noqa: E402

os.environ["CKAN_SOLR_URL"] = _SOLR_URL


# -- one database, Redis db and storage path per xdist worker ---------------------------------

def worker_index() -> int:
    """0 for a plain run and for xdist's ``gw0``, 1 for ``gw1``, ..."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def _read_ini(path: str) -> Any:
    import configparser

    ini = os.path.abspath(path)
    parser = configparser.ConfigParser(defaults={"here": os.path.dirname(ini)}, strict=False)
    parser.read(ini)
    return parser


def _lower_password_hashing(parser: Any) -> None:
    """Tests only: the rounds of CKAN's password hash (passlib's ``pbkdf2_sha512``, 25,000 by
    default: 30 ms of CPU for every user made and every password sign-in) from the
    ``[dgaaccounts:tests]`` section of the test ini, which CKAN never reads. CKAN has no
    option for it; a stored hash names its own rounds, so it verifies in any process."""
    rounds = parser.getint("dgaaccounts:tests", "password_hash_rounds", fallback=0)
    if rounds:
        from passlib.hash import pbkdf2_sha512

        pbkdf2_sha512.default_rounds = rounds


def pytest_configure(config: Any) -> None:
    """Lower the test processes' password hashing (:func:`_lower_password_hashing`).

    Under pytest-xdist, point this worker at its own database (``<db>_gw<N>``), Redis db
    (the configured one + N) and CKAN storage path before CKAN reads its config: workers must
    not share rows, rate-limit counters, job queues or the files CKAN writes at start-up."""
    if not config.option.ckan_ini:
        return
    parser = _read_ini(config.option.ckan_ini)
    _lower_password_hashing(parser)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    from urllib.parse import urlsplit, urlunsplit

    main = parser["app:main"]
    db = urlsplit(os.environ.get("CKAN_SQLALCHEMY_URL") or main["sqlalchemy.url"])
    os.environ["CKAN_SQLALCHEMY_URL"] = urlunsplit(db._replace(path=f"{db.path}_{worker}"))
    redis = urlsplit(os.environ.get("CKAN_REDIS_URL") or main["ckan.redis.url"])
    number = int(redis.path.strip("/") or 0) + worker_index()
    if number > 15:
        raise pytest.UsageError(
            f"xdist worker {worker} would need Redis db {number}: set CKAN_REDIS_URL to a db "
            "low enough for every worker to have its own")
    os.environ["CKAN_REDIS_URL"] = urlunsplit(redis._replace(path=f"/{number}"))
    storage = os.environ.get("CKAN_STORAGE_PATH") or main["ckan.storage_path"]
    os.environ["CKAN_STORAGE_PATH"] = os.path.join(storage, worker)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[Any]) -> None:
    """The ``stress`` tests run on one xdist worker (``--dist loadgroup``), one after another:
    they start CKAN processes and measure limits and races on their own.

    First among the hooks: xdist's own (on each worker) reads the ``xdist_group`` marks into
    the test ids; run after it, the marks came too late and both workers started their pair
    of ``ckan run`` servers."""
    for item in items:
        if item.get_closest_marker("stress"):
            item.add_marker(pytest.mark.xdist_group("stress"))


# A valid one-page PDF (made with pikepdf): uploads are parsed, and a PDF needs a page.
PDF = (
    b"%PDF-1.3\n%\xbf\xf7\xa2\xfe\n1 0 obj\n<< /Pages 2 0 R /Type /Catalog >>\nendobj\n2 0 obj"
    b"\n<< /Count 1 /Kids [ 3 0 R ] /Type /Pages >>\nendobj\n3 0 obj\n<< /Contents 4 0 R /Medi"
    b"aBox [ 0 0 595 842 ] /Parent 2 0 R /Resources << >> /Type /Page >>\nendobj\n4 0 obj\n<< "
    b"/Length 0 >>\nstream\n\nendstream\nendobj\nxref\n0 5\n0000000000 65535 f \n0000000015 00"
    b"000 n \n0000000064 00000 n \n0000000123 00000 n \n0000000229 00000 n \ntrailer << /Root "
    b"1 0 R /Size 5 /ID [<31415926535897932384626433832795><31415926535897932384626433832795>]"
    b" >>\nstartxref\n278\n%%EOF\n"
)
# A 1x1 PNG and JPEG (made with Pillow): uploaded images must decode.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:"
    b"~\x9bU\x00\x00\x00\nIDATx\x9cc\xf8\x0f\x00\x01\x01\x01\x00\xb18\xf6\x14\x00\x00\x00\x00I"
    b"END\xaeB`\x82"
)
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb\x00C\x00"
    b"\x08\x06\x06\x07\x06\x05\x08\x07\x07\x07\t\t\x08\n\x0c\x14\r\x0c\x0b\x0b\x0c\x19\x12\x13"
    b'\x0f\x14\x1d\x1a\x1f\x1e\x1d\x1a\x1c\x1c $.\' ",#\x1c\x1c(7),01444\x1f\'9=82<.342\xff'
    b"\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00\xff\xc4\x00\x1f\x00\x00\x01\x05\x01\x01"
    b"\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b"
    b"\xff\xc4\x00\xb5\x10\x00\x02\x01\x03\x03\x02\x04\x03\x05\x05\x04\x04\x00\x00\x01}\x01"
    b'\x02\x03\x00\x04\x11\x05\x12!1A\x06\x13Qa\x07"q\x142\x81\x91\xa1\x08#B\xb1\xc1\x15R\xd1'
    b"\xf0$3br\x82\t\n\x16\x17\x18\x19\x1a%&\'()*456789:CDEFGHIJSTUVWXYZcdefghijstuvwxyz\x83"
    b"\x84\x85\x86\x87\x88\x89\x8a\x92\x93\x94\x95\x96\x97\x98\x99\x9a\xa2\xa3\xa4\xa5\xa6\xa7"
    b"\xa8\xa9\xaa\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xd2"
    b"\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xf1\xf2\xf3\xf4"
    b"\xf5\xf6\xf7\xf8\xf9\xfa\xff\xda\x00\x08\x01\x01\x00\x00?\x00\xf7\xfa\xff\xd9"
)


# -- the database: migrated once per session, emptied in one transaction per test -----------

_EMPTYING: dict[str, str] = {}


def _emptying_sql(conn: Any) -> str:
    """One script that empties every table but the alembic version tables, CKAN's and the
    plugin's: ``DELETE`` children before parents (foreign keys), triggers that refuse
    ``DELETE`` (the append-only audit trail) switched off inside the transaction, and the
    sequences the tables own restarted.

    Made once per schema. ``TRUNCATE`` of all 40-odd tables measured 1.3-3 s here (it swaps
    every table's and index's files); deleting the few rows a test made takes milliseconds.
    """
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    tables = list(conn.execute(sa.text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename NOT LIKE '%alembic_version' ORDER BY 1")).scalars())
    key = f"{schema}:{','.join(tables)}"
    if key in _EMPTYING:
        return _EMPTYING[key]
    order = graphlib.TopologicalSorter({t: set() for t in tables})
    for child, parent in conn.execute(sa.text(
            "SELECT c.relname, p.relname FROM pg_constraint f "
            "JOIN pg_class c ON c.oid = f.conrelid JOIN pg_class p ON p.oid = f.confrelid "
            "WHERE f.contype = 'f' AND f.connamespace = current_schema()::regnamespace")):
        if child != parent and parent in tables and child in tables:
            order.add(parent, child)  # the child's rows go first
    guarded = set(conn.execute(sa.text(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace")).scalars())
    statements = ["SET LOCAL lock_timeout = '20s'"]
    for table in order.static_order():
        name = f'"{table}"'
        if table in guarded:
            statements += [f"ALTER TABLE {name} DISABLE TRIGGER USER", f"DELETE FROM {name}",
                           f"ALTER TABLE {name} ENABLE TRIGGER USER"]
        else:
            statements.append(f"DELETE FROM {name}")
    sequences = conn.execute(sa.text(
        "SELECT quote_ident(s.relname) FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
        "AND d.deptype IN ('a', 'i') AND d.refclassid = 'pg_class'::regclass "
        "WHERE s.relkind = 'S' AND s.relnamespace = current_schema()::regnamespace")).scalars()
    statements += [f"SELECT setval('{seq}', 1, false)" for seq in sequences]
    _EMPTYING[key] = "; ".join(statements)
    return _EMPTYING[key]


@pytest.fixture(scope="session")
def _migrated_db(reset_db) -> None:
    """CKAN's and the plugin's migrations, once per session (no-ops on a database
    ``dev/test.sh`` built; they build an empty one, e.g. a new xdist worker's)."""
    import ckan.model as model
    import ckan.plugins
    from ckan.cli.db import _run_migrations

    model.repo.init_db()
    loaded = ckan.plugins.plugin_loaded("dgaaccounts")
    if not loaded:
        ckan.plugins.load("dgaaccounts")
    try:
        _run_migrations("dgaaccounts")
    finally:
        if not loaded:
            ckan.plugins.unload("dgaaccounts")
    # CKAN's own reset_db, if anything calls it, now only deletes rows.
    model.repo.tables_created_and_initialised = True


def empty_database() -> None:
    """Every row of every table gone (users, organizations, requests, audit, ...), owned
    sequences restarted, in one transaction.

    Every session of this process is closed first (a live server's threads too): the audit
    table's trigger is switched off for the transaction, which waits for their locks, and
    ``lock_timeout`` turns a forgotten transaction into an error instead of a hang.
    """
    import ckan.model as model
    from sqlalchemy.orm import close_all_sessions

    model.Session.remove()
    close_all_sessions()
    with model.meta.engine.begin() as conn:
        conn.exec_driver_sql(_emptying_sql(conn))
    _forget_cached_rows()


def _forget_cached_rows() -> None:
    """What CKAN keeps in memory about rows that are now gone: app_globals' values read from
    the ``system_info`` table. (``get_site_user`` reads the user table on every call: the site
    user is simply made again on first use, as after CKAN's own reset.)"""
    from ckan.lib.app_globals import _CONFIG_CACHE

    _CONFIG_CACHE.clear()


@pytest.fixture
def clean_db(with_plugins, _migrated_db, reset_redis):
    """An empty database (CKAN's tables and the plugin's) and empty Redis (rate-limit
    counters, queues), with the plugin loaded: what CKAN's ``clean_db`` gives, in one
    ``TRUNCATE`` instead of deleting table by table and migrating again."""
    empty_database()
    reset_redis()


# -- the plugins and the app, once per test process --------------------------------------------

def _unload_plugins() -> None:
    import ckan.plugins

    # What CKAN's ``with_plugins`` does at the end of a test: 2.11 keeps the system plugins.
    unload = getattr(ckan.plugins, "unload_non_system_plugins", None) or ckan.plugins.unload_all
    unload()


@pytest.fixture(scope="session")
def _session_plugins() -> Iterator[dict[str, Any]]:
    """The plugins loaded once for the test process (an xdist worker), and what loading them
    wrote to the config. Unloaded when the session ends."""
    state: dict[str, Any] = {}
    yield state
    if state:
        _unload_plugins()


@pytest.fixture(scope="module")
def _module_plugins(_session_plugins) -> dict[str, Any]:
    """Kept for the fixtures that name it: the session's plugin state (loading and unloading
    the plugins around every module cost a second a module, with the app and its templates)."""
    return _session_plugins


def _wanted_plugins() -> list[str]:
    from ckan.plugins import toolkit as tk

    return tk.aslist(tk.config.get("ckan.plugins"))


_MISSING = object()


def ensure_plugins(config: Any, state: dict[str, Any], marked: bool = False) -> None:
    """Load the configured plugins unless ``state`` (the session's) says they are loaded; else
    write again to ``config`` what loading wrote (CKAN restores the config before every test),
    except the options this test changed itself (a ``ckan_config`` mark, a fixture).

    ``marked``: the test has ``ckan_config`` marks, whose values are text; loading the plugins
    converts every declared option to its type (``config_declaration.normalize``), so do that
    here too when the plugins were already loaded.
    """
    import ckan.plugins
    from ckan.common import config_declaration

    wanted = _wanted_plugins()
    if state.get("names") != wanted or not all(ckan.plugins.plugin_loaded(n) for n in wanted):
        if state:
            _unload_plugins()
        before = dict(config)
        ckan.plugins.load_all()
        state["names"] = wanted
        state["config"] = {k: (before.get(k, _MISSING), v) for k, v in config.items()
                           if before.get(k, _MISSING) != v}
        return
    for key, (unloaded, loaded) in state["config"].items():
        if config.get(key, _MISSING) == unloaded:
            config[key] = loaded
    if marked:
        config_declaration.normalize(config)


@pytest.fixture
def with_plugins(ckan_config, _module_plugins, request):
    """CKAN's ``with_plugins``, but the plugins stay loaded for the rest of the session.

    CKAN's fixture loads and unloads every plugin around each test (a quarter of a second).
    A test whose ``ckan.plugins`` differs from the loaded set loads them again.
    """
    marked = any(True for _ in request.node.iter_markers("ckan_config"))
    ensure_plugins(ckan_config, _module_plugins, marked)


@pytest.fixture(scope="session")
def _session_apps() -> dict[Any, Any]:
    """CKAN test apps of this process, by plugins and ``ckan_config`` marks."""
    return {}


@pytest.fixture(scope="module")
def _module_apps(_session_apps) -> dict[Any, Any]:
    """Kept for the fixtures that name it: the session's apps."""
    return _session_apps


@pytest.fixture
def app(make_app, ckan_config, _module_apps, request):
    """CKAN's test app, made once per test process for each set of loaded plugins and of
    ``ckan_config`` marks (CKAN's ``app`` makes one per test, half a second each, and every
    new app compiles its templates again).

    Each request goes through a new test client (``app.get``/``app.post``; ``app.test_client()``
    for a browser with cookies), so nothing but the app itself is shared between tests.
    """
    import ckan.plugins.core

    key = (tuple(ckan.plugins.core._PLUGINS),
           tuple(repr(m.args) for m in request.node.iter_markers("ckan_config")))
    found = _module_apps.get(key)
    if found is None:
        found = _module_apps[key] = make_app()
    ckan_config["testing"] = True  # as CKAN's _get_test_app sets it
    return found


@pytest.fixture(autouse=True)
def _private_storage(ckan_config, monkeypatch, tmp_path):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.storage_path", str(tmp_path / "docs"))
    return tmp_path / "docs"


@pytest.fixture
def storage_root(_private_storage):
    return _private_storage


def row_counts() -> dict[str, int]:
    """How many users, requests, documents, emails and audit events there are: a bad input
    must leave these unchanged."""
    import ckan.model as model

    from ckanext.dgaaccounts.model import AuditEvent, Document, OutboxMessage, Request

    return {
        "users": model.Session.query(model.User).filter(model.User.name != "default").count(),
        "requests": model.Session.query(Request).count(),
        "documents": model.Session.query(Document).count(),
        "outbox": model.Session.query(OutboxMessage).count(),
        "audit": model.Session.query(AuditEvent).count(),
    }


def stored_files(root) -> list[str]:
    return [os.path.join(d, f) for d, _s, files in os.walk(root) for f in files]


# -- what changed: the one snapshot helper -------------------------------------------------

EXT_TABLES = ("dgaaccounts_request", "dgaaccounts_document", "dgaaccounts_audit",
              "dgaaccounts_token", "dgaaccounts_outbox")


def snapshot(storage_root: Any = None) -> dict[str, Any]:
    """Every row of the extension's tables, the users, memberships and API tokens, and the
    files in the private store (temporary ``.part`` files included)."""
    import ckan.model as model
    from ckan.plugins import toolkit as tk

    model.Session.rollback()  # a failed statement must not hide what is committed
    run = model.Session.execute
    tables = {
        t: run(sa.text(f"SELECT row_to_json(t)::text FROM {t} t ORDER BY 1")).scalars().all()
        for t in EXT_TABLES
    }
    site_id = tk.config.get("ckan.site_id")
    snap: dict[str, Any] = {
        "tables": tables,
        # The site user is made on first use by CKAN itself: not the extension's doing.
        "users": [tuple(r) for r in run(sa.text(
            'SELECT id, name, email, state, sysadmin, coalesce(plugin_extras::text, \'\') '
            'FROM "user" WHERE name <> :site ORDER BY name'), {"site": site_id})],
        "members": [tuple(r) for r in run(sa.text(
            "SELECT group_id, table_id, capacity, state FROM member "
            "WHERE table_name = 'user' ORDER BY 1, 2, 3, 4"))],
        "api_tokens": [tuple(r) for r in run(sa.text(
            "SELECT id, user_id FROM api_token ORDER BY 1"))],
    }
    model.Session.rollback()
    if storage_root is not None:
        snap["files"] = sorted(stored_files(storage_root)) if os.path.isdir(storage_root) else []
    return snap


# -- signing in: the one helper for CKAN's test app ------------------------------------------

_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(app: Any, name: str, password: str) -> Any:
    """A browser signed in through CKAN's login form (a cookie session, as people use it)."""
    client = app.test_client()
    page = client.get("/user/login")
    client.post("/user/login", data={"_csrf_token": csrf_token(page.body), "login": name,
                                     "password": password})
    assert client.get("/dashboard/datasets", follow_redirects=False).status_code == 200, (
        f"{name} could not sign in")
    return client


@pytest.fixture
def ext_log(caplog, monkeypatch):
    """``caplog`` that sees the extension's log lines on every CKAN version: test.ini's logging
    sections (which CKAN 2.11 applies) stop the ``ckanext`` logger propagating to the root
    logger, where ``caplog`` listens, and an assertion that a secret is *not* logged would pass
    on nothing."""
    monkeypatch.setattr(logging.getLogger("ckanext"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    return caplog


def dga_cli(runner: Any, *args: str) -> Any:
    """``ckan dgaaccounts ARGS`` run in the test's own app and request context: the extension's
    command group, as CKAN's ``ckan`` command hands it over. (Through ``ckan`` itself every call
    builds and configures a whole new app, seconds each; ``test_cli`` keeps that path covered.)
    Returns click's result; the caller asserts the exit code it expects."""
    from ckanext.dgaaccounts.cli import dgaaccounts

    return runner.invoke(dgaaccounts, list(args), prog_name="ckan dgaaccounts")


# -- a world kept per test module ---------------------------------------------------------------

class Baseline:
    """A world built once per module and reused while the database still holds it as built
    (``intact``): a failing test cannot hide behind one that changed the world."""

    baseline: dict[str, Any]

    def remember(self) -> None:
        self.baseline = snapshot()

    def intact(self) -> bool:
        try:
            return snapshot() == self.baseline
        except Exception:  # noqa: BLE001 - tables gone (another module reset the database)
            import ckan.model as model

            model.Session.rollback()
            return False


@pytest.fixture(scope="module")
def world_cache() -> dict[str, Any]:
    """The worlds of one test module, by key (see :func:`reuse`)."""
    return {}


def reuse(request: Any, cache: dict[str, Any], key: str, build: Any,
          intact: Any = None) -> Any:
    """The module's world under ``key``, built (on an empty database: ``clean_db``) the first
    time and again whenever ``intact(world)`` (default ``world.intact()``, e.g. a
    :class:`Baseline`) says a test, or another module's reset, changed what it relies on.

    The one "world per module" of the suite: tests that share a world assert on their own
    rows, never on totals.
    """
    import ckan.model as model

    found = cache.get(key)
    if found is not None:
        model.Session.rollback()
    if found is None or not (intact(found) if intact else found.intact()):
        request.getfixturevalue("clean_db")
        found = cache[key] = build()
    return found


class Mailbox:
    """What a real SMTP server on loopback received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address.lower() in m["To"].lower()]

    @staticmethod
    def body(msg: email.message.EmailMessage) -> str:
        return msg.get_body(preferencelist=("plain",)).get_content()

    def link(self, address: str, pattern: str = r"https?://\S+/dgaaccounts/verify/(\S+)") -> str:
        """The token of the newest link matching ``pattern`` sent to ``address``."""
        for msg in reversed(self.to(address)):
            found = re.search(pattern, self.body(msg))
            if found:
                return found.group(1)
        raise AssertionError(f"no link for {address} in {len(self.messages)} messages")


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    Clients get their own port from that range; a port in it that nobody listens on yet (a
    server still starting, a mail server meant to be down) can then be the client's own, and
    the socket connects to itself (TCP self-connect) and reads back what it sent.

    xdist workers draw from separate slices of the range, so two of them cannot pick one port
    between the check here and the server binding it.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    first, last = max(1024, low - 12000), low - 1
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    size = (last - first + 1) // workers
    first += size * (worker_index() % workers)
    for _ in range(1000):
        port = random.randint(first, first + size - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


@pytest.fixture
def smtp(ckan_config, monkeypatch):
    """A real SMTP server (aiosmtpd) on loopback, and CKAN pointed at it."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{port}")
    box.port = port  # type: ignore[attr-defined]
    yield box
    controller.stop()


@pytest.fixture
def deliver():
    """Deliver the outbox now, as the background job does."""
    from ckanext.dgaaccounts import mail

    return mail.deliver_due


class Upload:
    """What Werkzeug hands to an action for a multipart file field."""

    def __init__(self, content: bytes, filename: str) -> None:
        self.stream = io.BytesIO(content)
        self.filename = filename

    def read(self, n: int = -1) -> bytes:
        return self.stream.read(n)


@pytest.fixture
def make_upload():
    return Upload


def registration(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "somchai",
        "fullname": "สมชาย ใจดี",
        "email": "somchai@dga.or.th",
        "password": "Correct-Horse-42",
        "agency_name": "สำนักงานพัฒนารัฐบาลดิจิทัล",
        "position": "นักวิชาการคอมพิวเตอร์",
        "phone": "02 612 6000",
        "superior_name": "นางสาวพิมพ์ชนก ศรีสุข",
        "superior_position": "ผู้อำนวยการกอง",
    }
    data.update(overrides)
    return data


# -- signed forms: the tests' certificate authority (tests/pki.py) -------------------------------

@pytest.fixture(scope="module")
def ca() -> Any:
    """Root, intermediate, signers and CRL (tests/pki.py), made once per module."""
    from ckanext.dgaaccounts.tests import pki

    return pki.make_pki()


@pytest.fixture
def trust(ca, ckan_config, monkeypatch, tmp_path) -> dict[str, str]:
    """The portal trusts the test root (signers and the TSA) and holds the issuing CA's CRL
    (soft-fail: these machines are offline)."""
    paths: dict[str, str] = ca.write(str(tmp_path / "trust"))
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_trust_roots", [paths["root"]])
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_crls", [paths["crl"]])
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_revocation", "soft-fail")
    return paths
