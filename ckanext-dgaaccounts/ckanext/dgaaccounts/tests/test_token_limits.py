"""Per-key limits and usage (issue 17): counted in real Redis, shared by two ``ckan run``
processes; tiers through the action; usage rolled up into PostgreSQL."""
from __future__ import annotations

import datetime
import os
from collections.abc import Iterator

import pytest

import ckan.model as model
from ckan.lib.redis import connect_to_redis
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import apiusage
from ckanext.dgaaccounts.model import AuditEvent
from ckanext.dgaaccounts.tests.conftest import free_port
from ckanext.dgaaccounts.tests.security.conftest import (
    CkanProcess, api, http_call, server_ini, start_ckan, stop, together, wait_until,
)
from ckanext.dgaaccounts.tokenmodel import TokenTier, TokenUsage, UserTier

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckanext.dgaaccounts.token_default_hourly_limit", 3),
    # No with_request_context: the HTTP calls must read the token (see test_token_policy.py).
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]
SERVER_LIMIT = 5


def _token(user: dict, name: str = "script") -> str:
    return helpers.call_action("api_token_create", context={"user": user["name"]},
                               user=user["name"], name=name)["token"]


def _admin() -> dict:
    admin = factories.Sysadmin()
    return {"user": admin["name"], "ignore_auth": False}


def _call(app, token: str, action: str = "dgaaccounts_token_list", **data):
    return app.post(f"/api/3/action/{action}", json=data, headers={"Authorization": token})


class TestHeadersAndLimit:
    def test_every_token_call_carries_the_rate_limit_headers(self, app):
        token = _token(factories.User())
        first, second = _call(app, token), _call(app, token)
        assert first.status_code == second.status_code == 200
        assert first.headers["X-RateLimit-Limit"] == "3"
        assert first.headers["X-RateLimit-Remaining"] == "2"
        assert second.headers["X-RateLimit-Remaining"] == "1"
        assert int(first.headers["X-RateLimit-Reset"]) % 3600 == 0

    def test_calls_without_a_token_are_not_counted(self, app):
        res = app.post("/api/3/action/status_show", json={})
        assert "X-RateLimit-Limit" not in res.headers

    def test_over_the_limit_is_429_json_with_retry_after(self, app):
        token = _token(factories.User())
        answers = [_call(app, token) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert refused.headers["Content-Type"].startswith("application/json")
        assert refused.json["error"]["reason"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        assert refused.headers["X-RateLimit-Remaining"] == "0"

    def test_each_token_has_its_own_count(self, app):
        user = factories.User()
        one, two = _token(user, "one"), _token(user, "two")
        for _ in range(3):
            _call(app, one)
        assert _call(app, one).status_code == 429
        assert _call(app, two).status_code == 200

    def test_a_tier_raises_the_limit_at_once(self, app):
        user = factories.User()
        token = _token(user)
        for _ in range(3):
            _call(app, token)
        assert _call(app, token).status_code == 429
        helpers.call_action("dgaaccounts_token_tier_set", context=_admin(), name="partner",
                            hourly_limit=100)
        helpers.call_action("dgaaccounts_token_tier_assign", context=_admin(),
                            user=user["name"], tier="partner")
        res = _call(app, token)
        assert res.status_code == 200
        assert res.headers["X-RateLimit-Limit"] == "100"
        assert model.Session.query(AuditEvent).filter_by(action="token_tier_assign").count() == 1

    @pytest.mark.ckan_config("ckanext.dgaaccounts.token_limits_enabled", False)
    def test_limits_switched_off(self, app):
        token = _token(factories.User())
        answers = [_call(app, token) for _ in range(5)]
        assert all(a.status_code == 200 for a in answers)
        assert "X-RateLimit-Limit" not in answers[0].headers


class TestEveryTokenAuthenticatedPath:
    """CKAN honours the token header on every path, not only /api/ (pages, downloads): each
    such call is counted and limited like an API call, from the same hourly budget."""

    def test_a_page_read_with_a_token_is_counted_and_limited(self, app):
        user = factories.User()
        token = _token(user)
        assert _call(app, token).headers["X-RateLimit-Remaining"] == "2"
        page = app.get("/dgaaccounts/tokens", headers={"Authorization": token})
        assert page.status_code == 200
        assert 'id="dgaaccounts-token-usage"' in page.body  # signed in by the token
        assert page.headers["X-RateLimit-Limit"] == "3"
        assert page.headers["X-RateLimit-Remaining"] == "1"
        _call(app, token)
        refused = app.get("/dgaaccounts/tokens", headers={"Authorization": token})
        assert refused.status_code == 429
        assert refused.json["error"]["reason"] == "rate_limited"
        assert "Retry-After" in refused.headers

    def test_page_calls_show_in_the_usage_by_view(self, app):
        user = factories.User()
        token = _token(user, "browser-script")
        app.get("/dgaaccounts/tokens", headers={"Authorization": token})
        usage = helpers.call_action("dgaaccounts_token_usage", context={"user": user["name"]})
        [today] = usage["days"]
        assert today["calls"] == 1
        assert today["top_actions"] == [{"action": "page:dgaaccounts_tokens.usage",
                                         "calls": 1}]

    def test_a_revoked_token_on_a_page_is_refused_not_anonymous(self, app):
        user = factories.User()
        token = _token(user)
        from ckan.lib import api_token
        helpers.call_action("api_token_revoke", context={"user": user["name"]},
                            jti=api_token.decode(token)["jti"])
        res = app.get("/dgaaccounts/tokens", headers={"Authorization": token})
        assert res.status_code == 401
        assert res.json["error"]["reason"] == "token_revoked"

    def test_http_basic_credentials_for_a_proxy_leave_pages_alone(self, app):
        # a staging site behind a proxy asking for a password: the browser sends them on
        # every page; they are no CKAN token, and CKAN ignores them too
        res = app.get("/dgaaccounts/register/developer",
                      headers={"Authorization": "Basic ZGVtbzpkZW1v"})
        assert res.status_code == 200
        assert "X-RateLimit-Limit" not in res.headers

    def test_pages_without_a_token_are_not_counted(self, app):
        res = app.get("/dgaaccounts/register/developer")
        assert "X-RateLimit-Limit" not in res.headers


class TestOneRoundTrip:
    """Counting costs one Redis round trip per call, no PostgreSQL write."""

    def test_a_call_sends_one_redis_command_and_writes_nothing_to_postgresql(self, app):
        user = factories.User()
        token = _token(user)
        _call(app, token)  # the token's first call of the day and minute: limit cached
        monitor = _RedisCommands()
        with monitor, _PostgresWrites() as writes:
            assert _call(app, token).status_code == 200
        from ckan.lib import api_token
        jti = api_token.decode(token)["jti"]
        ours = [c for c in monitor.commands if jti in c]  # MONITOR sees every database
        assert len(ours) == 1, monitor.commands
        assert ours[0].startswith('"EVALSHA"')
        assert [w for w in writes if "dgaaccounts" in w] == []


class TestOneDecode:
    """CKAN 2.11 loads the token's user after the plugins' identify: its lookup then reads the
    claims the guard checked (IApiToken.decode_api_token), for that token and that request
    only, and the token's row the guard read: the JWT is decoded once and the row read once.
    CKAN 2.12 loads the user before the plugins' identify, so there both happen twice."""

    def test_a_token_call_decodes_the_jwt_and_reads_its_row_once_where_ckan_lets_it(
            self, app, monkeypatch):
        import jwt
        import sqlalchemy as sa

        token = _token(factories.User())
        decoded: list[str] = []
        real = jwt.decode

        def counting(encoded, *args, **kwargs):
            decoded.append(encoded)
            return real(encoded, *args, **kwargs)

        reads: list[str] = []

        def seen(conn, cursor, statement, *args) -> None:
            if statement.lstrip().upper().startswith("SELECT") and "FROM api_token" in statement:
                reads.append(statement)

        monkeypatch.setattr(jwt, "decode", counting)
        sa.event.listen(model.meta.engine, "before_cursor_execute", seen)
        try:
            answer = app.post("/api/3/action/dgaaccounts_token_list", json={},
                              headers={"Authorization": token})
        finally:
            sa.event.remove(model.meta.engine, "before_cursor_execute", seen)
        assert answer.status_code == 200
        assert answer.json["result"], "the call ran as the token's owner"
        ckan_first = tk.check_ckan_version(min_version="2.12")
        assert decoded == [token] * (2 if ckan_first else 1)
        # (the action itself lists the owner's tokens: one more read of the table)
        assert len(reads) == (3 if ckan_first else 2), reads

    def test_the_kept_claims_answer_only_for_the_same_token_in_the_same_request(self, app):
        from ckanext.dgaaccounts import apitokens

        claims = {"jti": "abc"}
        assert apitokens.checked_claims("t1") is None  # no request
        with app.flask_app.test_request_context("/api/3/action/status_show"):
            apitokens.remember_checked("t1", claims, model.ApiToken())
            assert apitokens.checked_claims("t1") == claims
            assert apitokens.checked_claims("t2") is None
        with app.flask_app.test_request_context("/api/3/action/status_show"):
            assert apitokens.checked_claims("t1") is None  # a new request decodes again


@pytest.fixture
def redis_to_lose(monkeypatch, tmp_path) -> Iterator:
    """CKAN's Redis is a real server of the test's own on loopback; calling the fixture's value
    stops it (the fault of a Redis gone, caused, not imitated)."""
    import subprocess
    import time

    import redis as redis_py

    from ckan.lib import redis as ckan_redis

    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pool = redis_py.ConnectionPool.from_url(f"redis://127.0.0.1:{port}/0")
    deadline = time.monotonic() + 10
    while True:
        try:
            redis_py.Redis(connection_pool=pool).ping()
            break
        except redis_py.ConnectionError:
            assert time.monotonic() < deadline, "the test's Redis did not start"
            time.sleep(0.05)
    monkeypatch.setattr(ckan_redis, "_connection_pool", pool)
    monkeypatch.setattr(apiusage, "_POOLS", {})

    def stop() -> None:
        server.terminate()
        server.wait(timeout=10)

    yield stop
    if server.poll() is None:
        stop()
    pool.disconnect()


class TestRedisGone:
    """Redis down must not stop the API: token calls are served, without a limit or headers
    (logged), refusals stay refusals, and the usage pages show what PostgreSQL holds."""

    def test_calls_are_served_without_limits_and_usage_still_shows(self, app, redis_to_lose,
                                                                   ext_log):
        user = factories.User()
        token = _token(user)
        assert _call(app, token).headers["X-RateLimit-Remaining"] == "2"
        redis_to_lose()
        for _ in range(5):  # beyond the limit of 3: nothing counts them now
            served = _call(app, token)
            assert served.status_code == 200
            assert "X-RateLimit-Limit" not in served.headers
        assert "Token limits not applied: Redis unavailable" in ext_log.text
        helpers.call_action("api_token_revoke", context={"user": user["name"]},
                            token=token)
        refused = _call(app, token)
        assert refused.status_code == 401
        assert refused.json["error"]["reason"] == "token_revoked"
        usage = helpers.call_action("dgaaccounts_token_usage",
                                    context={"user": user["name"], "ignore_auth": False})
        assert usage["days"] == []  # today's live counts were in the lost Redis
        assert "Live token usage not read: Redis unavailable" in ext_log.text

    def test_a_tier_change_with_redis_gone_still_takes_effect(self, redis_to_lose):
        admin = _admin()
        user = factories.User()
        redis_to_lose()
        helpers.call_action("dgaaccounts_token_tier_set", context=admin, name="gold",
                            hourly_limit=1000)
        helpers.call_action("dgaaccounts_token_tier_assign", context=admin,
                            user=user["name"], tier="gold")
        assert apiusage.hourly_limit(user["id"]) == 1000


class _RedisCommands:
    """The commands Redis receives meanwhile (its MONITOR command)."""

    def __enter__(self):
        import threading

        self.commands: list[str] = []
        self._conn = connect_to_redis().connection_pool.make_connection()
        self._conn.send_command("MONITOR")
        assert self._conn.read_response() in (b"OK", "OK")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        while not self._stop.is_set():
            if self._conn.can_read(timeout=0.05):
                line = self._conn.read_response()
                text = line.decode() if isinstance(line, bytes) else str(line)
                # '1733551234.123456 [9 127.0.0.1:4242] "EVALSHA" "..." ...'; what a script
                # runs inside Redis shows as '[9 lua] "INCR" ...': no round trip of its own
                where, _sep, command = text.partition("] ")
                if not where.endswith(" lua"):
                    self.commands.append(command)

    def __exit__(self, *exc) -> None:
        import time as _time

        _time.sleep(0.2)  # what was sent is read
        self._stop.set()
        self._thread.join()
        self._conn.disconnect()


class _PostgresWrites:
    """The INSERT, UPDATE and DELETE statements the app runs meanwhile."""

    def __enter__(self) -> list[str]:
        import sqlalchemy as sa

        self.found: list[str] = []
        self._engine = model.meta.engine
        sa.event.listen(self._engine, "before_cursor_execute", self._seen)
        return self.found

    def _seen(self, conn, cursor, statement, *args) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.found.append(statement)

    def __exit__(self, *exc) -> None:
        import sqlalchemy as sa

        sa.event.remove(self._engine, "before_cursor_execute", self._seen)


class TestTiers:
    @pytest.mark.parametrize("limit", [-1, 0, 10 ** 12, "many", "", None, True, 1.5])
    def test_bad_limits_are_refused_and_change_nothing(self, limit):
        with pytest.raises(tk.ValidationError) as err:
            helpers.call_action("dgaaccounts_token_tier_set", context=_admin(), name="bad",
                                hourly_limit=limit)
        assert "hourly_limit" in err.value.error_dict
        assert model.Session.query(TokenTier).count() == 0

    @pytest.mark.parametrize("name", ["", "Has Space", "x" * 51, 5, "ไทย"])
    def test_bad_tier_names_are_refused(self, name):
        with pytest.raises(tk.ValidationError) as err:
            helpers.call_action("dgaaccounts_token_tier_set", context=_admin(), name=name,
                                hourly_limit=10)
        assert "name" in err.value.error_dict

    def test_assigning_an_unknown_tier_or_user_is_refused(self):
        user = factories.User()
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_token_tier_assign", context=_admin(),
                                user=user["name"], tier="nope")
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_token_tier_assign", context=_admin(),
                                user="nobody-here", tier="")
        assert model.Session.query(UserTier).count() == 0

    def test_only_sysadmins_manage_tiers(self):
        user = factories.User()
        for action in ("dgaaccounts_token_tier_set", "dgaaccounts_token_tier_assign",
                       "dgaaccounts_token_tier_list", "dgaaccounts_token_usage_list",
                       "dgaaccounts_token_housekeeping"):
            with pytest.raises(tk.NotAuthorized):
                helpers.call_auth(action, {"user": user["name"], "model": model})
            with pytest.raises(tk.NotAuthorized):
                helpers.call_auth(action, {"user": "", "model": model})

    def test_the_default_tier_can_be_changed(self, app):
        token = _token(factories.User())
        helpers.call_action("dgaaccounts_token_tier_set", context=_admin(), name="default",
                            hourly_limit=50)
        assert _call(app, token).headers["X-RateLimit-Limit"] == "50"

    def test_tier_page_shows_errors_without_500(self, app):
        from ckanext.dgaaccounts.tests.security.conftest import csrf_token, sign_in
        factories.Sysadmin(name="boss", password="Passw0rd-long-1")
        client = sign_in(app, "boss", "Passw0rd-long-1")
        page = client.get("/ckan-admin/dgaaccounts/tokens")
        res = client.post("/ckan-admin/dgaaccounts/tokens", data={
            "_csrf_token": csrf_token(page.body), "name": "neg", "hourly_limit": "-5"})
        assert res.status_code == 200
        assert 'id="dgaaccounts-tier-errors"' in res.body
        assert model.Session.query(TokenTier).count() == 0

    def test_a_tier_is_moved_and_taken_back_and_each_change_audited(self, app):
        admin = _admin()
        user = factories.User()
        token = _token(user)
        for name, limit in (("silver", 50), ("gold", 500)):
            helpers.call_action("dgaaccounts_token_tier_set", context=admin, name=name,
                                hourly_limit=limit)
        limits = []
        for tier in ("silver", "gold", ""):  # "" takes the user back to the default tier
            helpers.call_action("dgaaccounts_token_tier_assign", context=admin,
                                user=user["name"], tier=tier)
            limits.append(_call(app, token).headers["X-RateLimit-Limit"])
        assert limits == ["50", "500", "3"]
        assert model.Session.get(UserTier, user["id"]) is None
        assigned = [e.details for e in model.Session.query(AuditEvent).filter_by(
            action="token_tier_assign").order_by(AuditEvent.id)]
        assert [(d["before"], d["tier"]) for d in assigned] == [
            (None, "silver"), ("silver", "gold"), ("gold", "default")]

    def test_a_description_over_500_characters_is_refused(self):
        with pytest.raises(tk.ValidationError) as err:
            helpers.call_action("dgaaccounts_token_tier_set", context=_admin(), name="long",
                                hourly_limit=10, description="x" * 501)
        assert "description" in err.value.error_dict
        assert model.Session.query(TokenTier).count() == 0

    def test_sysadmin_assigns_a_tier_on_the_users_tokens_tab(self, app):
        from ckanext.dgaaccounts.tests.security.conftest import csrf_token, sign_in
        dev = factories.User(name="dev_tab")
        helpers.call_action("dgaaccounts_token_tier_set", context=_admin(), name="silver",
                            hourly_limit=77)
        factories.Sysadmin(name="boss3", password="Passw0rd-long-1")
        client = sign_in(app, "boss3", "Passw0rd-long-1")
        page = client.get("/user/dev_tab/api-tokens")
        assert 'id="dgaaccounts-user-tier-form"' in page.body
        client.post("/ckan-admin/dgaaccounts/tokens", data={
            "_csrf_token": csrf_token(page.body), "assign": "1", "user": "dev_tab",
            "tier": "silver"})
        assert model.Session.get(UserTier, dev["id"]).tier == "silver"
        assert "77 calls per hour" in client.get("/user/dev_tab/api-tokens").body


class TestUsage:
    def test_calls_errors_and_actions_are_counted_and_rolled_up(self, app):
        user = factories.User()
        token = _token(user, "etl")
        _call(app, token)
        _call(app, token)
        _call(app, token, "dgaaccounts_request_show", id="nope")  # 404: an error
        usage = helpers.call_action("dgaaccounts_token_usage", context={"user": user["name"]})
        [today] = usage["days"]
        assert (today["calls"], today["errors"], today["token_name"]) == (3, 1, "etl")
        assert today["top_actions"][0] == {"action": "dgaaccounts_token_list", "calls": 2}
        assert today["last_used"]
        ctx = _admin()
        assert helpers.call_action("dgaaccounts_token_usage_rollup", context=ctx) == {"rows": 1}
        assert helpers.call_action("dgaaccounts_token_usage_rollup", context=ctx) == {"rows": 1}
        [row] = model.Session.query(TokenUsage).all()
        assert (row.calls, row.errors, row.actions["dgaaccounts_request_show"]) == (3, 1, 1)

    def test_past_days_leave_redis_once_rolled_up(self, app):
        user = factories.User()
        _call(app, _token(user))
        tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(1)
        assert apiusage.rollup(today=tomorrow) == 1
        assert not connect_to_redis().smembers("dgaaccounts:tokenusage:index")
        assert model.Session.query(TokenUsage).count() == 1

    def test_a_developer_sees_only_their_own_usage(self, app):
        me, other = factories.User(), factories.User()
        _call(app, _token(other))
        mine = helpers.call_action("dgaaccounts_token_usage", context={"user": me["name"]})
        assert mine["days"] == []
        with pytest.raises(tk.NotAuthorized):
            helpers.call_auth("dgaaccounts_token_usage",
                              {"user": me["name"], "model": model}, user=other["name"])

    def test_usage_per_organization_lists_its_members_only(self, app):
        member, outsider = factories.User(), factories.User()
        factories.Organization(name="dga-usage",
                               users=[{"name": member["name"], "capacity": "editor"}])
        _call(app, _token(member, "member-etl"))
        _call(app, _token(outsider, "outsider-etl"))
        found = helpers.call_action("dgaaccounts_token_usage_list", context=_admin(),
                                    organization="dga-usage")["days"]
        assert [(r["user_name"], r["token_name"]) for r in found] == [
            (member["name"], "member-etl")]
        for bad in ("no-such-org", factories.Group()["name"]):  # a group is no organization
            with pytest.raises(tk.ValidationError) as err:
                helpers.call_action("dgaaccounts_token_usage_list", context=_admin(),
                                    organization=bad)
            assert "organization" in err.value.error_dict

    def test_sysadmin_exports_everyones_usage_as_csv(self, app):
        from ckanext.dgaaccounts.tests.security.conftest import sign_in
        dev = factories.User(name="dev_csv")
        _call(app, _token(dev, "=cmd"))
        factories.Sysadmin(name="boss2", password="Passw0rd-long-1")
        client = sign_in(app, "boss2", "Passw0rd-long-1")
        res = client.get("/ckan-admin/dgaaccounts/tokens?format=csv&user=dev_csv")
        assert res.headers["Content-Type"].startswith("text/csv")
        lines = res.body.strip().splitlines()
        assert lines[0].startswith("day,user_name,token_name")
        assert ",dev_csv,'=cmd," in lines[1]

    def test_usage_page_shows_the_developers_tokens(self, app):
        from ckanext.dgaaccounts.tests.security.conftest import sign_in
        factories.User(name="dev_page", password="Passw0rd-long-1")
        client = sign_in(app, "dev_page", "Passw0rd-long-1")
        _call(app, _token({"name": "dev_page"}, "page-token"))
        page = client.get("/dgaaccounts/tokens")
        assert "page-token" in page.body
        assert 'id="dgaaccounts-token-usage"' in page.body

    def test_retention_deletes_old_days(self):
        user = factories.User()
        old = datetime.date.today() - datetime.timedelta(days=401)
        model.Session.add(TokenUsage(token_id="t", day=old, user_id=user["id"], calls=1,
                                     errors=0, actions={}))
        model.Session.add(TokenUsage(token_id="t", day=datetime.date.today(),
                                     user_id=user["id"], calls=1, errors=0, actions={}))
        model.Session.commit()
        assert helpers.call_action("dgaaccounts_token_usage_purge",
                                   context=_admin()) == {"deleted": 1}
        assert model.Session.query(TokenUsage).count() == 1


# -- two CKAN processes sharing Redis -------------------------------------------------------

@pytest.fixture(scope="module")
def two_servers(request, tmp_path_factory) -> Iterator[list[CkanProcess]]:
    """Two ``ckan run`` processes on loopback with a default limit of ``SERVER_LIMIT``."""
    base = os.path.abspath(request.config.option.ckan_ini)
    tmp = tmp_path_factory.mktemp("token-servers")
    ports = [free_port()]
    while len(ports) < 2:
        ports += {free_port()} - set(ports)
    servers: list[CkanProcess] = []
    try:
        for port in ports:
            ini = server_ini(base, str(tmp / f"server-{port}.ini"), **{
                "ckan.site_url": f"http://127.0.0.1:{port}",
                "ckanext.dgaaccounts.storage_path": str(tmp / "private"),
                "ckanext.dgaaccounts.token_default_hourly_limit": str(SERVER_LIMIT),
                "smtp.server": f"127.0.0.1:{free_port()}"})
            log_path = str(tmp / f"ckan-{port}.log")
            proc = start_ckan(ini, "run", "-H", "127.0.0.1", "-p", str(port), "-r", "-t",
                              log_path=log_path)
            servers.append(CkanProcess(f"http://127.0.0.1:{port}", proc, log_path))
        for server in servers:
            wait_until(lambda s=server: _ready(s), 90, f"CKAN at {server.url}")
        yield servers
    finally:
        for server in servers:
            stop(server.proc)


def _ready(server: CkanProcess) -> bool:
    if server.proc.poll() is not None:
        raise AssertionError(f"ckan run exited:\n{server.log_tail()}")
    try:
        return http_call(server.url + "/api/3/action/status_show", timeout=2).status == 200
    except OSError:
        return False


class TestTwoProcesses:
    def test_a_race_across_processes_serves_exactly_the_limit(self, two_servers):
        token = _token(factories.User())
        calls = [lambda s=two_servers[i % 2]: api(s.url, "dgaaccounts_token_list", token=token)
                 for i in range(12)]
        answers = together(*calls)
        statuses = sorted(a.status for a in answers)
        assert statuses == [200] * SERVER_LIMIT + [429] * (12 - SERVER_LIMIT), statuses
        served = [a for a in answers if a.status == 200]
        assert sorted(a.headers["x-ratelimit-remaining"] for a in served) == \
            [str(n) for n in range(SERVER_LIMIT)]

    def test_a_tier_change_reaches_the_other_process(self, two_servers):
        user = factories.User()
        token = _token(user)
        first = api(two_servers[0].url, "dgaaccounts_token_list", token=token)
        assert first.headers["x-ratelimit-limit"] == str(SERVER_LIMIT)
        helpers.call_action("dgaaccounts_token_tier_set", context=_admin(), name="gold",
                            hourly_limit=1000)
        helpers.call_action("dgaaccounts_token_tier_assign", context=_admin(),
                            user=user["name"], tier="gold")
        for server in two_servers:
            answer = api(server.url, "dgaaccounts_token_list", token=token)
            assert answer.status == 200
            assert answer.headers["x-ratelimit-limit"] == "1000"

    def test_refusals_are_json_on_a_real_server(self, two_servers):
        answer = api(two_servers[1].url, "dgaaccounts_token_list", token="garbage")
        assert answer.status == 401
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json["error"]["reason"] == "token_invalid"
