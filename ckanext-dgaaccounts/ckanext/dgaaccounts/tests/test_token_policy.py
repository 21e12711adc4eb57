"""Every API token expires (issue 17): the cap on every creation path, clear refusals on /api/,
renewal, reminders and the revoke-all link. Real PostgreSQL, Redis and SMTP; the expiry clock
is injected (``apitokens.clock``), nothing sleeps."""
from __future__ import annotations

import datetime
import json
import re

import pytest

import ckan.model as model
from ckan.lib import api_token
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import apitokens
from ckanext.dgaaccounts.model import AuditEvent, OutboxMessage, utcnow
from ckanext.dgaaccounts.tests.conftest import dga_cli

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    # No with_request_context: its application context would hold the test's anonymous user
    # for the HTTP calls (flask-login caches it in g), and the token would never be read.
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]
DAY = 86400


def _lifetime(result: dict) -> int:
    claims = api_token.decode(result["token"])
    return claims["exp"] - claims["iat"]


def _token(user: dict, **extra) -> dict:
    return helpers.call_action("api_token_create", context={"user": user["name"]},
                               user=user["name"], name=extra.pop("name", "mine"), **extra)


@pytest.fixture
def clock(monkeypatch):
    """The policy's clock, set by the test."""
    now = {"value": utcnow()}
    monkeypatch.setattr(apitokens, "clock", lambda: now["value"])
    return now


class TestEveryTokenExpires:
    def test_token_without_expiry_gets_the_maximum_and_the_answer_says_so(self):
        user = factories.User()
        result = _token(user)
        assert abs(_lifetime(result) - 365 * DAY) <= 5
        assert result["lifetime_capped"] is True
        assert result["max_lifetime_days"] == 365
        assert "365" in result["lifetime_note"]

    def test_longer_request_is_cut_to_the_maximum(self):
        user = factories.User()
        result = _token(user, expires_in=1000, unit=DAY)
        assert abs(_lifetime(result) - 365 * DAY) <= 5
        assert result["lifetime_capped"] is True

    def test_shorter_request_is_kept(self):
        user = factories.User()
        result = _token(user, expires_in=30, unit=DAY)
        assert abs(_lifetime(result) - 30 * DAY) <= 5
        assert result["lifetime_capped"] is False
        assert "lifetime_note" not in result

    def test_sysadmin_tokens_have_the_shorter_cap(self):
        admin = factories.Sysadmin()
        result = _token(admin, expires_in=365, unit=DAY)
        assert abs(_lifetime(result) - 180 * DAY) <= 5
        assert result["max_lifetime_days"] == 180

    @pytest.mark.ckan_config("ckanext.dgaaccounts.token_max_lifetime_days", 10)
    def test_the_cap_is_configurable(self):
        result = _token(factories.User())
        assert abs(_lifetime(result) - 10 * DAY) <= 5

    def test_developer_sign_up_token_expires_too(self, smtp, deliver):
        helpers.call_action("dgaaccounts_developer_register", name="dev_nok", fullname="Nok",
                            email="nok@example.com", password="Dev-Passw0rd-42")
        deliver()
        verified = helpers.call_action("dgaaccounts_email_verify",
                                       token=smtp.link("nok@example.com"))
        claims = api_token.decode(verified["api_token"])
        assert abs(claims["exp"] - claims["iat"] - 365 * DAY) <= 5
        assert verified["api_token_expires"]
        # Audited, and announced like every other token (TestSignUpTokenEmail).
        assert model.Session.query(AuditEvent).filter_by(action="api_token_create").count() == 1
        assert model.Session.query(OutboxMessage).filter_by(template="token_created").count() == 1

    @pytest.mark.ckan_config("ckan.plugins", "dgaaccounts expire_api_token")
    def test_expire_api_token_plugin_request_is_cut_too(self):
        result = _token(factories.User(), expires_in=5, unit=365 * DAY)
        assert abs(_lifetime(result) - 365 * DAY) <= 5

    @pytest.mark.parametrize("bad", [{"expires_in": -5}, {"expires_in": 0},
                                     {"expires_in": "soon"}, {"expires_in": 5, "unit": -1}])
    def test_bad_expiry_is_a_validation_error_and_creates_nothing(self, bad):
        user = factories.User()
        with pytest.raises(tk.ValidationError) as err:
            _token(user, **bad)
        assert set(err.value.error_dict) <= {"expires_in", "unit"}
        assert model.Session.query(model.ApiToken).count() == 0

    def test_name_of_ten_thousand_characters_is_refused(self):
        user = factories.User()
        with pytest.raises(tk.ValidationError) as err:
            _token(user, name="x" * 10_000)
        assert "name" in err.value.error_dict
        assert model.Session.query(model.ApiToken).count() == 0

    def test_creation_is_audited_and_emailed_with_a_revoke_all_link(self, smtp, deliver):
        user = factories.User(email="owner@example.com")
        _token(user, name="my-script")
        # No usable secret rests in the outbox: the signed link is made at delivery.
        [queued] = model.Session.query(OutboxMessage).filter_by(template="token_created").all()
        assert apitokens.revoke_all_signature(model.User.get(user["id"])) not in json.dumps(
            queued.params)
        deliver()
        [msg] = smtp.to("owner@example.com")
        body = smtp.body(msg)
        assert "my-script" in body
        assert re.search(r"/dgaaccounts/tokens/revoke-all/\S+/[0-9a-f]{64}", body)
        assert model.Session.query(AuditEvent).filter_by(action="api_token_create").count() == 1

    def test_api_tokens_tab_caps_the_token_and_says_so(self, app):
        user = factories.User(password="Passw0rd-long-1")
        from ckanext.dgaaccounts.tests.security.conftest import csrf_token, sign_in
        client = sign_in(app, user["name"], "Passw0rd-long-1")
        page = client.get(f"/user/{user['name']}/api-tokens")
        assert "at most 365 days" in page.body
        client.post(f"/user/{user['name']}/api-tokens",
                 data={"name": "tab", "_csrf_token": csrf_token(page.body)})
        [token] = model.Session.query(model.ApiToken).all()
        assert apitokens.expires_at(token) <= utcnow() + datetime.timedelta(days=365, minutes=1)


@pytest.mark.ckan_config("ckan.display_timezone", "Asia/Bangkok")
class TestSignUpTokenEmail:
    """The token issued at developer sign-up is announced like any other (issue 17): when,
    from which address, its name and the "revoke all my tokens" link, in the language the
    developer signed up in."""

    def _sign_up(self, app, smtp, deliver, lang: str, name: str) -> tuple[dict, str]:
        email = f"{name}@example.com"
        prefix = f"/{lang}" if lang else ""
        app.post(f"{prefix}/api/3/action/dgaaccounts_developer_register", json={
            "name": name, "fullname": "Nok Dev", "email": email,
            "password": "Dev-Passw0rd-42"}, status=200)
        deliver()
        # the developer's browser confirms from its own address
        verified = app.post("/api/3/action/dgaaccounts_email_verify",
                            json={"token": smtp.link(email)},
                            environ_base={"REMOTE_ADDR": "203.0.113.7"}, status=200)
        deliver()
        [msg] = [m for m in smtp.to(email) if "revoke-all" in smtp.body(m)]
        return verified.json["result"], smtp.body(msg)

    def test_thai_developer_gets_a_thai_token_email_with_the_revoke_all_link(
            self, app, smtp, deliver):
        result, body = self._sign_up(app, smtp, deliver, "th", "dev_thai")
        assert result["api_token"]
        assert '"dgaaccounts"' in body  # the token's name
        assert "203.0.113.7" in body
        assert re.search(r"/th/dgaaccounts/tokens/revoke-all/\S+/[0-9a-f]{64}", body)
        # Thai words, Buddhist-era dates in Bangkok time, nothing in UTC
        assert "โทเค็น" in body
        year = utcnow().year + 543
        assert re.search(rf"\d{{1,2}} \S+ {year} เวลา \d\d:\d\d น\.", body), body
        assert "UTC" not in body

    def test_english_developer_gets_it_in_english(self, app, smtp, deliver):
        _result, body = self._sign_up(app, smtp, deliver, "en", "dev_eng")
        assert "An API token named \"dgaaccounts\" was created" in body
        assert "203.0.113.7" in body
        assert "(ICT)" in body
        assert "/th/" not in body

    def test_the_link_in_the_sign_up_email_revokes_the_sign_up_token(self, app, smtp,
                                                                     deliver):
        from ckanext.dgaaccounts.tests.security.conftest import csrf_token
        result, body = self._sign_up(app, smtp, deliver, "en", "dev_leak")
        path = re.search(r"https?://[^/\s]+(/dgaaccounts/tokens/revoke-all/\S+)",
                         body).group(1)
        client = app.test_client()
        page = client.get(path)
        client.post(path, data={"_csrf_token": csrf_token(page.body)})
        res = app.post("/api/3/action/dgaaccounts_token_list", json={},
                       headers={"Authorization": result["api_token"]}, status=401)
        assert res.json["error"]["reason"] == "token_revoked"


class TestClearRefusals:
    def _call(self, app, token: str):
        return app.post("/api/3/action/dgaaccounts_token_list", json={},
                        headers={"Authorization": token}, status=401)

    def test_malformed_token_is_token_invalid_json(self, app):
        res = self._call(app, "not-a-token")
        assert res.headers["Content-Type"].startswith("application/json")
        assert res.json["error"]["reason"] == "token_invalid"
        assert res.json["success"] is False

    def test_forged_signature_is_token_invalid(self, app):
        token = _token(factories.User())["token"]
        head, payload, _sig = token.split(".")
        assert self._call(app, f"{head}.{payload}.AAAA").json["error"]["reason"] == \
            "token_invalid"

    def test_revoked_token_is_token_revoked(self, app):
        user = factories.User()
        token = _token(user)["token"]
        jti = api_token.decode(token)["jti"]
        helpers.call_action("api_token_revoke", context={"user": user["name"]}, jti=jti)
        assert self._call(app, token).json["error"]["reason"] == "token_revoked"

    def test_expired_token_is_token_expired(self, app, clock):
        user = factories.User()
        clock["value"] = utcnow() - datetime.timedelta(days=400)
        token = _token(user)["token"]
        clock["value"] = utcnow()
        res = self._call(app, token)
        assert res.json["error"]["reason"] == "token_expired"

    def test_expiry_follows_the_injected_clock(self, app, clock):
        user = factories.User()
        token = _token(user, expires_in=2, unit=DAY)["token"]
        res = app.post("/api/3/action/dgaaccounts_token_list", json={},
                       headers={"Authorization": token}, status=200)
        assert res.json["success"] is True, res.json
        clock["value"] = utcnow() + datetime.timedelta(days=2, seconds=1)
        assert self._call(app, token).json["error"]["reason"] == "token_expired"

    def test_old_token_without_expiry_expires_after_the_maximum(self, app, clock):
        user = factories.User()
        token = _token(user)["token"]
        row = model.ApiToken.get(api_token.decode(token)["jti"])
        row.plugin_extras = {}  # as a token from before the policy
        model.Session.commit()
        clock["value"] = utcnow() + datetime.timedelta(days=366)
        assert self._call(app, token).json["error"]["reason"] == "token_expired"

    def test_good_token_still_works(self, app):
        user = factories.User()
        token = _token(user)["token"]
        res = app.post("/api/3/action/dgaaccounts_token_list", json={},
                       headers={"Authorization": token})
        assert res.json["result"][0]["name"] == "mine"


class TestRenewal:
    def test_renewal_creates_same_name_and_keeps_old_for_the_overlap(self, clock):
        user = factories.User()
        old = _token(user, name="etl")
        old_id = api_token.decode(old["token"])["jti"]
        renewed = helpers.call_action("dgaaccounts_token_renew",
                                      context={"user": user["name"]}, id=old_id)
        assert renewed["name"] == "etl"
        assert renewed["id"] != old_id
        sysadmin = factories.Sysadmin()
        ctx = {"user": sysadmin["name"], "ignore_auth": False}
        assert helpers.call_action("dgaaccounts_token_overlap_revoke", context=ctx) == \
            {"revoked": 0}
        assert model.ApiToken.get(old_id) is not None
        clock["value"] = utcnow() + datetime.timedelta(days=7, minutes=1)
        assert helpers.call_action("dgaaccounts_token_overlap_revoke", context=ctx) == \
            {"revoked": 1}
        model.Session.expire_all()
        assert model.ApiToken.get(old_id) is None
        assert model.ApiToken.get(renewed["id"]) is not None

    def test_renewing_twice_is_refused(self):
        user = factories.User()
        old_id = api_token.decode(_token(user)["token"])["jti"]
        helpers.call_action("dgaaccounts_token_renew", context={"user": user["name"]}, id=old_id)
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_token_renew", context={"user": user["name"]},
                                id=old_id)
        assert model.Session.query(model.ApiToken).count() == 2

    def test_renewing_a_revoked_token_is_not_found(self):
        user = factories.User()
        old_id = api_token.decode(_token(user)["token"])["jti"]
        helpers.call_action("api_token_revoke", context={"user": user["name"]}, jti=old_id)
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_token_renew", context={"user": user["name"]},
                                id=old_id)

    def test_renewing_someone_elses_token_is_refused(self):
        owner, other = factories.User(), factories.User()
        old_id = api_token.decode(_token(owner)["token"])["jti"]
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_token_renew", context={"user": other["name"]},
                                id=old_id)
        assert model.Session.query(model.ApiToken).count() == 1

    def test_a_token_is_shown_to_its_owner_and_sysadmins_only(self):
        owner, other, admin = factories.User(), factories.User(), factories.Sysadmin()
        token_id = api_token.decode(_token(owner, name="etl")["token"])["jti"]
        for caller in (owner, admin):
            shown = helpers.call_action("dgaaccounts_token_show",
                                        context={"user": caller["name"], "ignore_auth": False},
                                        id=token_id)
            assert (shown["id"], shown["name"]) == (token_id, "etl")
            assert "token" not in shown  # never the secret again
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_token_show",
                                context={"user": other["name"], "ignore_auth": False},
                                id=token_id)
        for missing in ("no-such-token", "x" * 201, ""):
            with pytest.raises(tk.ObjectNotFound):
                helpers.call_action("dgaaccounts_token_show", context={"user": owner["name"]},
                                    id=missing)

    def test_renewal_page_confirms_on_get_and_renews_on_post(self, app):
        from ckanext.dgaaccounts.tests.security.conftest import csrf_token, sign_in
        user = factories.User(password="Passw0rd-long-1")
        old_id = api_token.decode(_token(user, name="cron")["token"])["jti"]
        client = sign_in(app, user["name"], "Passw0rd-long-1")
        page = client.get(f"/dgaaccounts/tokens/{old_id}/renew")
        assert model.Session.query(model.ApiToken).count() == 1  # GET changes nothing
        done = client.post(f"/dgaaccounts/tokens/{old_id}/renew",
                        data={"_csrf_token": csrf_token(page.body)})
        assert 'id="dgaaccounts-new-token"' in done.body
        assert model.Session.query(model.ApiToken).filter_by(name="cron").count() == 2


class TestTokenPagesRefuseClearly:
    """The token pages' bad inputs: a clear status and message, and nothing changed."""

    PASSWORD = "Passw0rd-long-1"

    def _signed_in(self, app, user: dict):
        from ckanext.dgaaccounts.tests.security.conftest import sign_in
        return sign_in(app, user["name"], self.PASSWORD)

    def _tokens(self) -> list[tuple[str, str]]:
        model.Session.expire_all()
        return sorted((t.user_id, t.name) for t in model.Session.query(model.ApiToken))

    def test_renewal_needs_the_owner_and_a_known_token(self, app):
        from ckanext.dgaaccounts.tests.security.conftest import csrf_token
        owner = factories.User(password=self.PASSWORD)
        other = factories.User(password=self.PASSWORD)
        token_id = api_token.decode(_token(owner, name="cron")["token"])["jti"]
        before = self._tokens()
        anonymous = app.get(f"/dgaaccounts/tokens/{token_id}/renew", status=403)
        assert "Sign in to manage your API tokens." in anonymous.body
        client = self._signed_in(app, other)
        page = client.get(f"/dgaaccounts/tokens/{token_id}/renew")
        assert page.status_code == 403
        refused = client.post(f"/dgaaccounts/tokens/{token_id}/renew",
                              data={"_csrf_token": csrf_token(client.get("/dashboard/datasets")
                                                              .body)})
        assert refused.status_code == 403
        assert client.get("/dgaaccounts/tokens/no-such-token/renew").status_code == 404
        assert self._tokens() == before

    def test_a_token_renewed_once_is_not_renewed_again_from_the_page(self, app):
        from ckanext.dgaaccounts.tests.security.conftest import csrf_token
        owner = factories.User(password=self.PASSWORD)
        token_id = api_token.decode(_token(owner, name="cron")["token"])["jti"]
        client = self._signed_in(app, owner)
        page = client.get(f"/dgaaccounts/tokens/{token_id}/renew")
        first = client.post(f"/dgaaccounts/tokens/{token_id}/renew",
                            data={"_csrf_token": csrf_token(page.body)})
        assert 'id="dgaaccounts-new-token"' in first.body
        again = client.post(f"/dgaaccounts/tokens/{token_id}/renew",
                            data={"_csrf_token": csrf_token(page.body)})
        assert again.status_code == 200
        assert "This API token has already been renewed." in again.body
        assert 'id="dgaaccounts-new-token"' not in again.body
        assert [n for _u, n in self._tokens()] == ["cron", "cron"]

    def test_a_post_without_the_form_token_is_refused(self, app, smtp, deliver):
        user = factories.User(email="nocsrf@example.com")
        _token(user)
        deliver()
        body = smtp.body(smtp.to("nocsrf@example.com")[-1])
        path = re.search(r"https?://[^/\s]+(/dgaaccounts/tokens/revoke-all/\S+)", body).group(1)
        refused = app.test_client().post(path, data={})
        assert refused.status_code == 400
        assert "The form has expired. Reload the page and try again." in refused.body
        assert len(self._tokens()) == 1

    def test_usage_pages_refuse_bad_periods_and_strangers(self, app):
        from ckanext.dgaaccounts.tests.security.conftest import csrf_token
        user = factories.User(password=self.PASSWORD)
        factories.Sysadmin(name="tokens_admin", password=self.PASSWORD)
        assert app.get("/dgaaccounts/tokens", status=403).body.count(
            "Sign in to manage your API tokens.") == 1
        client = self._signed_in(app, user)
        bad = client.get("/dgaaccounts/tokens?days=many")
        assert bad.status_code == 400
        assert "Days:" in bad.body  # the field by its label, with its message
        assert "['" not in bad.body
        page = client.get("/ckan-admin/dgaaccounts/tokens")
        assert page.status_code == 403
        assert "Only sysadmins may see everyone" in page.body
        tier = client.post("/ckan-admin/dgaaccounts/tokens", data={
            "_csrf_token": csrf_token(client.get("/dashboard/datasets").body),
            "name": "gold", "hourly_limit": "100"})
        assert tier.status_code == 403
        assert "Only sysadmins may change API tiers." in tier.body
        admin = self._signed_in(app, {"name": "tokens_admin"})
        assert admin.get("/ckan-admin/dgaaccounts/tokens?days=many").status_code == 400
        assert "gold" not in [t["name"] for t in helpers.call_action(
            "dgaaccounts_token_tier_list")]


class TestReminders:
    def _send(self):
        admin = factories.Sysadmin()
        return helpers.call_action("dgaaccounts_token_reminders_send",
                                   context={"user": admin["name"], "ignore_auth": False})

    def test_reminders_at_30_7_and_1_days_each_once(self, clock, smtp, deliver):
        user = factories.User(email="dev@example.com")
        _token(user, name="nightly", expires_in=40, unit=DAY)
        deliver()
        smtp.messages.clear()
        start = utcnow()
        sent = []
        for day in (5, 11, 12, 30, 33, 34, 38, 39, 39.5):
            clock["value"] = start + datetime.timedelta(days=day)
            sent.append(self._send()["sent"])
        assert sent == [0, 1, 0, 0, 1, 0, 0, 1, 0]
        deliver()
        bodies = [smtp.body(m) for m in smtp.to("dev@example.com")]
        assert len(bodies) == 3
        assert all("nightly" in b and "/renew" in b for b in bodies)
        assert all("not been used yet" in b for b in bodies)

    def test_late_discovery_sends_one_reminder_not_three(self, clock, smtp, deliver):
        user = factories.User(email="late@example.com")
        _token(user, expires_in=40, unit=DAY)
        clock["value"] = utcnow() + datetime.timedelta(days=39, hours=12)
        assert self._send()["sent"] == 1
        assert self._send()["sent"] == 0

    @pytest.mark.ckan_config("ckan.display_timezone", "Asia/Bangkok")
    def test_reminder_names_the_last_use(self, clock, smtp, deliver):
        user = factories.User(email="used@example.com")
        token = _token(user, expires_in=10, unit=DAY)
        row = model.ApiToken.get(api_token.decode(token["token"])["jti"])
        row.last_access = datetime.datetime(2026, 11, 30, 8, 15)
        model.Session.commit()
        deliver()
        smtp.messages.clear()
        clock["value"] = utcnow() + datetime.timedelta(days=9, hours=12)
        self._send()
        deliver()
        [msg] = smtp.to("used@example.com")
        # in the reader's language and the portal's zone (English here; Thai: TestSignUpTokenEmail)
        assert "30 Nov 2026, 15:15 (ICT)" in smtp.body(msg)
        assert model.Session.query(OutboxMessage).filter_by(template="token_expiry").count() == 1

    def test_only_sysadmins_run_reminders(self):
        user = factories.User()
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_token_reminders_send",
                                context={"user": user["name"], "ignore_auth": False})


class TestRevokeAll:
    def _link(self, smtp, deliver, address: str) -> str:
        deliver()
        body = smtp.body(smtp.to(address)[-1])
        return re.search(r"https?://[^/\s]+(/dgaaccounts/tokens/revoke-all/\S+)", body).group(1)

    def test_link_revokes_every_token_once(self, app, smtp, deliver):
        from ckanext.dgaaccounts.tests.security.conftest import csrf_token
        user = factories.User(email="leak@example.com")
        _token(user, name="a")
        _token(user, name="b")
        path = self._link(smtp, deliver, "leak@example.com")
        client = app.test_client()
        page = client.get(path)
        assert model.Session.query(model.ApiToken).count() == 2  # GET changes nothing
        done = client.post(path, data={"_csrf_token": csrf_token(page.body)})
        assert 'id="dgaaccounts-revoke-done"' in done.body
        assert model.Session.query(model.ApiToken).count() == 0
        replay = client.post(path, data={"_csrf_token": csrf_token(page.body)})
        assert replay.status_code == 400
        assert 'id="dgaaccounts-revoke-invalid"' in replay.body
        assert model.Session.query(AuditEvent).filter_by(
            action="api_token_revoke_all").count() == 1

    def test_forged_link_is_refused_and_revokes_nothing(self, app, smtp, deliver):
        user = factories.User(email="forge@example.com")
        _token(user)
        path = self._link(smtp, deliver, "forge@example.com")
        other = factories.User()
        forged = path.replace(user["id"], other["id"])
        app.get(forged, status=400)
        app.get(path[:-4] + "0000", status=400)
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_token_revoke_all", context={"user": ""},
                                user=user["id"], signature="0" * 64)
        assert model.Session.query(model.ApiToken).count() == 1

    def test_signed_in_user_cannot_revoke_another_users_tokens(self):
        owner, other = factories.User(), factories.User()
        _token(owner)
        with pytest.raises(tk.NotAuthorized):
            helpers.call_auth("dgaaccounts_token_revoke_all",
                              {"user": other["name"], "model": model}, user=owner["id"])
        assert model.Session.query(model.ApiToken).count() == 1



class TestHousekeepingCommand:
    """``ckan dgaaccounts tokens ...`` through the CLI and a real RQ worker."""

    @pytest.mark.usefixtures("clean_redis", "with_test_worker")
    def test_reminder_job_runs_in_the_worker_and_mails(self, cli, clock, smtp, deliver):
        from ckan.lib import jobs

        user = factories.User(email="worker@example.com")
        _token(user, name="batch", expires_in=20, unit=DAY)
        deliver()
        smtp.messages.clear()
        clock["value"] = utcnow() + datetime.timedelta(days=19, hours=12)
        result = dga_cli(cli, "tokens", "reminders", "--enqueue")
        assert result.exit_code == 0, result.output
        assert smtp.messages == [], "queued, not run"
        queue = jobs.get_queue()
        jobs.Worker(connection=queue.connection).work(burst=True)
        [msg] = smtp.to("worker@example.com")
        assert "batch" in smtp.body(msg)

    def test_housekeeping_command_runs_every_step(self, cli):
        result = dga_cli(cli, "tokens", "housekeeping")
        assert result.exit_code == 0, result.output
        assert '"dgaaccounts_token_usage_rollup": {"rows": 0}' in result.output
