"""Cancellation and suspension of accounts (real PostgreSQL, Redis, SMTP on loopback)."""
from __future__ import annotations

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.model import AuditEvent, Document, Request
from ckanext.dgaaccounts.tests.conftest import PDF, dga_cli, stored_files

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]


def _ask(user, kind="cancellation", reason="ย้ายไปทำงานที่อื่น"):
    return helpers.call_action("dgaaccounts_cancellation_request_create",
                               context={"user": user["name"], "ignore_auth": False},
                               kind=kind, reason=reason)


def _submit(user, make_upload, kind="cancellation"):
    req = _ask(user, kind)
    helpers.call_action("dgaaccounts_request_document_upload",
                        context={"user": user["name"], "ignore_auth": False},
                        id=req["id"], signed_form=make_upload(PDF, "signed.pdf"))
    return req["id"]


def _decide(sysadmin, action, request_id, **extra):
    return helpers.call_action(action, context={"user": sysadmin["name"], "ignore_auth": False},
                               id=request_id, **extra)


@pytest.fixture
def officer():
    user = factories.User(name="officer", email="officer@dga.or.th")
    factories.Organization(name="dga", title="สพร.",
                           users=[{"name": "officer", "capacity": "editor"}])
    factories.APIToken(user="officer")
    return user


@pytest.fixture
def sysadmin():
    return factories.Sysadmin(name="admin2", email="admin2@dga.or.th")


class TestRequests:
    def test_request_waits_for_the_signed_form_and_records_memberships(self, officer, smtp,
                                                                       deliver):
        req = _ask(officer)
        assert req["state"] == "awaiting_document"
        assert req["kind"] == "cancellation"
        assert req["details"]["memberships"] == [["สพร.", "editor"]]
        deliver()
        assert "/dgaaccounts/request/" in smtp.body(smtp.to("officer@dga.or.th")[-1])

    def test_only_one_open_request(self, officer):
        _ask(officer)
        with pytest.raises(tk.ValidationError) as e:
            _ask(officer, "suspension")
        assert "kind" in e.value.error_dict
        assert model.Session.query(Request).count() == 1

    def test_anonymous_cannot_ask(self):
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_cancellation_request_create",
                                context={"user": "", "ignore_auth": False},
                                kind="cancellation", reason="x")

    @pytest.mark.parametrize(("data", "field"), [
        ({"kind": "delete-everything", "reason": "x"}, "kind"),
        ({"kind": "cancellation", "reason": ""}, "reason"),
        ({"kind": "suspension", "reason": "x" * 2001}, "reason"),
    ])
    def test_bad_input(self, officer, data, field):
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_cancellation_request_create",
                                context={"user": "officer", "ignore_auth": False}, **data)
        assert field in e.value.error_dict
        assert model.Session.query(Request).count() == 0

    def test_upload_to_someone_elses_request_is_refused(self, officer, make_upload,
                                                        storage_root):
        req = _ask(officer)
        other = factories.User()
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_request_document_upload",
                                context={"user": other["name"], "ignore_auth": False},
                                id=req["id"], signed_form=make_upload(PDF, "x.pdf"))
        assert model.Session.query(Document).count() == 0
        assert stored_files(storage_root) == []

    def test_the_last_active_sysadmin_cannot_ask(self):
        only = factories.Sysadmin()
        with pytest.raises(tk.ValidationError):
            _ask(only)

    def test_withdraw_then_decision_is_refused(self, officer, sysadmin, make_upload):
        request_id = _submit(officer, make_upload)
        helpers.call_action("dgaaccounts_request_withdraw",
                            context={"user": "officer", "ignore_auth": False}, id=request_id)
        with pytest.raises(tk.ValidationError) as e:
            _decide(sysadmin, "dgaaccounts_request_approve", request_id)
        assert "state" in e.value.error_dict
        assert model.User.by_name("officer").state == "active"


class TestCancellation:
    def test_approval_revokes_tokens_memberships_and_deletes_the_user(
            self, officer, sysadmin, make_upload, smtp, deliver):
        request_id = _submit(officer, make_upload)
        result = _decide(sysadmin, "dgaaccounts_request_approve", request_id)
        assert result["state"] == "approved"
        user = model.User.by_name("officer")
        assert user.state == "deleted"
        assert model.Session.query(model.ApiToken).filter_by(user_id=user.id).count() == 0
        assert model.Session.query(model.Member).filter_by(
            table_id=user.id, state="active").count() == 0
        event = model.Session.query(AuditEvent).filter_by(action="approve").one()
        assert event.details["api_tokens_revoked"] == 1
        assert event.details["memberships_removed"] == 1
        deliver()
        assert smtp.to("officer@dga.or.th")

    def test_a_sysadmin_cannot_decide_their_own_request(self, sysadmin, make_upload):
        factories.Sysadmin()  # someone else stays
        request_id = _submit(sysadmin, make_upload)
        for action, extra in [("dgaaccounts_request_approve", {}),
                              ("dgaaccounts_request_reject", {"reason": "no"})]:
            with pytest.raises(tk.NotAuthorized):
                _decide(sysadmin, action, request_id, **extra)
        assert model.Session.get(Request, request_id).state == "submitted"


class TestSuspension:
    def test_suspend_then_reactivate(self, officer, sysadmin, make_upload, smtp, deliver):
        request_id = _submit(officer, make_upload, "suspension")
        _decide(sysadmin, "dgaaccounts_request_approve", request_id)
        user = model.User.by_name("officer")
        assert user.state == "pending"
        assert model.Session.query(model.ApiToken).filter_by(user_id=user.id).count() == 0
        assert model.Session.query(model.Member).filter_by(
            table_id=user.id, state="active").count() == 1, "kept for the reactivation"
        result = helpers.call_action("dgaaccounts_user_reactivate",
                                     context={"user": "admin2", "ignore_auth": False},
                                     id="officer")
        assert result["state"] == "active"
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_user_reactivate",
                                context={"user": "admin2", "ignore_auth": False}, id="officer")
        actions = [e.action for e in model.Session.query(AuditEvent).order_by(AuditEvent.id)]
        assert actions[-2:] == ["approve", "reactivate"]
        deliver()
        subjects = [m["Subject"] for m in smtp.to("officer@dga.or.th")]
        assert any("active again" in s for s in subjects)

    def test_reactivate_is_for_sysadmins_and_suspended_users_only(self, officer):
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_user_reactivate",
                                context={"user": "officer", "ignore_auth": False}, id="officer")
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_user_reactivate", id="officer")
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_user_reactivate", id="nobody")

    def test_pending_applicant_is_not_reactivated(self, smtp, deliver):
        from ckanext.dgaaccounts.tests.conftest import registration
        helpers.call_action("dgaaccounts_agency_register", **registration())
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_user_reactivate", id="somchai")
        assert model.User.by_name("somchai").state == "pending"


class TestRetention:
    def test_personal_details_are_scrubbed_after_retention_and_audit_stays(
            self, officer, sysadmin, make_upload, cli):
        import datetime

        from ckanext.dgaaccounts.model import utcnow

        request_id = _submit(officer, make_upload)
        _decide(sysadmin, "dgaaccounts_request_approve", request_id)
        result = dga_cli(cli, "scrub")
        assert "scrubbed: 0" in result.output, "not before the retention period"
        model.Session.query(Request).filter(Request.id == request_id).update(
            {"decided": utcnow() - datetime.timedelta(days=91)})
        model.Session.commit()
        result = dga_cli(cli, "scrub")
        assert "scrubbed: 1" in result.output, result.output
        model.Session.remove()
        user = model.User.get(officer["id"])
        assert user.email is None
        assert user.fullname is None
        req = model.Session.get(Request, request_id)
        assert req.email == ""
        assert "reason" not in req.details
        actions = [e.action for e in model.Session.query(AuditEvent).order_by(AuditEvent.id)]
        assert actions[-1] == "scrub"
        assert "approve" in actions
        assert "scrubbed: 0" in dga_cli(cli, "scrub").output
