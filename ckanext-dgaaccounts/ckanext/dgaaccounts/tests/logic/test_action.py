"""The action API against real PostgreSQL, Redis and an SMTP server on loopback."""
from __future__ import annotations

import datetime

import pytest
import sqlalchemy as sa

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import workflow
from ckanext.dgaaccounts.model import (
    AuditEvent, Document, OutboxMessage, Request, Token, utcnow,
)
from ckanext.dgaaccounts.tests.conftest import (
    PDF, PNG, dga_cli, registration, row_counts, stored_files,
)

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]


def _register(smtp, deliver, **overrides):
    result = helpers.call_action("dgaaccounts_agency_register", **registration(**overrides))
    deliver()
    email = overrides.get("email", registration()["email"])
    return result, smtp.link(email)


def _submitted(smtp, deliver, make_upload, **overrides):
    result, token = _register(smtp, deliver, **overrides)
    verified = helpers.call_action("dgaaccounts_email_verify", token=token)
    helpers.call_action(
        "dgaaccounts_request_document_upload", id=result["request_id"],
        token=verified["applicant_token"], signed_form=make_upload(PDF, "form.pdf"))
    return result["request_id"], verified["applicant_token"]


class TestAgencyRegistration:
    def test_register_creates_pending_user_and_request_and_sends_verification(
            self, smtp, deliver):
        result = helpers.call_action("dgaaccounts_agency_register", **registration())
        assert result["state"] == "awaiting_verification"
        assert result["reference"].startswith(f"DGA-{utcnow().year}-")
        user = model.User.by_name("somchai")
        assert user.state == "pending"
        assert user.fullname == "สมชาย ใจดี"
        req = model.Session.get(Request, result["request_id"])
        assert req.user_id == user.id
        assert req.kind == "agency_registration"
        assert deliver() == 1
        [msg] = smtp.to("somchai@dga.or.th")
        assert result["reference"] in smtp.body(msg)
        assert "/dgaaccounts/verify/" in smtp.body(msg)

    def test_verification_link_token_is_stored_only_as_hash(self, smtp, deliver):
        _result, token = _register(smtp, deliver)
        hashes = [t.token_hash for t in model.Session.query(Token)]
        assert token not in hashes
        assert len(hashes) == 1
        outbox = model.Session.query(OutboxMessage).one()
        assert token not in str(outbox.params)

    def test_verify_moves_to_awaiting_document_and_returns_applicant_token(self, smtp, deliver):
        result, token = _register(smtp, deliver)
        verified = helpers.call_action("dgaaccounts_email_verify", token=token)
        assert verified["state"] == "awaiting_document"
        assert verified["applicant_token"]
        assert model.User.by_name("somchai").state == "pending"

    def test_verify_link_works_once(self, smtp, deliver):
        _result, token = _register(smtp, deliver)
        helpers.call_action("dgaaccounts_email_verify", token=token)
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_email_verify", token=token)
        assert "token" in e.value.error_dict

    def test_expired_link_is_refused(self, smtp, deliver):
        result, token = _register(smtp, deliver)
        model.Session.query(Token).update({"expires": utcnow() - datetime.timedelta(seconds=1)})
        model.Session.commit()
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_email_verify", token=token)
        assert model.Session.get(Request, result["request_id"]).state == "awaiting_verification"

    @pytest.mark.parametrize("tamper", [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: t + "x", lambda t: "",
        lambda t: "x" * 5000, lambda t: t.upper(),
    ])
    def test_tampered_link_is_refused(self, smtp, deliver, tamper):
        result, token = _register(smtp, deliver)
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_email_verify", token=tamper(token))
        assert model.Session.get(Request, result["request_id"]).state == "awaiting_verification"

    def test_resend_sends_a_new_link_and_retires_the_old(self, smtp, deliver):
        _result, first = _register(smtp, deliver)
        answer = helpers.call_action("dgaaccounts_verification_resend", email="SOMCHAI@dga.or.th ")
        deliver()
        second = smtp.link("somchai@dga.or.th")
        assert second != first
        unknown = helpers.call_action("dgaaccounts_verification_resend", email="nobody@dga.or.th")
        assert unknown == answer
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_email_verify", token=first)
        assert helpers.call_action("dgaaccounts_email_verify", token=second)["state"]

    def test_full_flow_upload_then_approve_makes_an_active_editor(
            self, smtp, deliver, make_upload):
        org = factories.Organization(name="dga")
        sysadmin = factories.Sysadmin(email="admin@dga.or.th")
        request_id, _tok = _submitted(smtp, deliver, make_upload, organization="dga")
        req = model.Session.get(Request, request_id)
        assert req.state == "submitted"
        assert req.due == req.submitted + datetime.timedelta(hours=24)
        deliver()
        assert smtp.to("admin@dga.or.th"), "sysadmins are told of a new submission"
        result = helpers.call_action("dgaaccounts_request_approve",
                                     context={"user": sysadmin["name"]}, id=request_id)
        assert result["state"] == "approved"
        assert result["decided_by"] == sysadmin["id"]
        user = model.User.by_name("somchai")
        assert user.state == "active"
        members = helpers.call_action("member_list", id=org["id"], object_type="user")
        assert (user.id, "user", "Editor") in members
        deliver()
        assert "approved" in smtp.to("somchai@dga.or.th")[-1]["Subject"]

    def test_approve_with_another_organization_and_role(self, smtp, deliver, make_upload):
        factories.Organization(name="dga")
        other = factories.Organization(name="moi")
        sysadmin = factories.Sysadmin()
        request_id, _tok = _submitted(smtp, deliver, make_upload, organization="dga")
        helpers.call_action("dgaaccounts_request_approve", context={"user": sysadmin["name"]},
                            id=request_id, organization="moi", role="admin")
        members = helpers.call_action("member_list", id=other["id"], object_type="user")
        assert (model.User.by_name("somchai").id, "user", "Admin") in members

    def test_agency_without_organization_needs_one_at_approval(
            self, smtp, deliver, make_upload):
        sysadmin = factories.Sysadmin()
        request_id, _tok = _submitted(smtp, deliver, make_upload)
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_request_approve",
                                context={"user": sysadmin["name"]}, id=request_id)
        assert "organization" in e.value.error_dict
        assert model.Session.get(Request, request_id).state == "submitted"
        assert model.User.by_name("somchai").state == "pending"

    def test_signed_form_with_the_registration_goes_straight_to_submitted(
            self, smtp, deliver, make_upload):
        result, token = _register(smtp, deliver, signed_form=make_upload(PNG, "scan.png"))
        verified = helpers.call_action("dgaaccounts_email_verify", token=token)
        assert verified["state"] == "submitted"
        doc = model.Session.query(Document).one()
        assert doc.mimetype == "image/png"
        assert doc.original_name == "scan.png"

    def test_return_then_corrected_upload_then_reject(self, smtp, deliver, make_upload):
        sysadmin = factories.Sysadmin()
        request_id, tok = _submitted(smtp, deliver, make_upload)
        ctx = {"user": sysadmin["name"]}
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_request_return", context=ctx, id=request_id)
        assert "reason" in e.value.error_dict
        helpers.call_action("dgaaccounts_request_return", context=dict(ctx), id=request_id,
                            reason="ลายเซ็นผู้บังคับบัญชาไม่ครบ")
        deliver()
        assert "ลายเซ็นผู้บังคับบัญชาไม่ครบ" in smtp.body(smtp.to("somchai@dga.or.th")[-1])
        helpers.call_action("dgaaccounts_request_document_upload", id=request_id, token=tok,
                            signed_form=make_upload(PDF, "corrected.pdf"))
        assert model.Session.get(Request, request_id).state == "submitted"
        assert model.Session.query(Document).count() == 2
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_request_reject", context=dict(ctx), id=request_id,
                                reason="   ")
        helpers.call_action("dgaaccounts_request_reject", context=dict(ctx), id=request_id,
                            reason="ไม่ใช่เจ้าหน้าที่ของหน่วยงาน")
        assert model.Session.get(Request, request_id).state == "rejected"
        assert model.User.by_name("somchai").state == "deleted"
        deliver()
        assert "ไม่ใช่เจ้าหน้าที่ของหน่วยงาน" in smtp.body(smtp.to("somchai@dga.or.th")[-1])

    def test_second_decision_changes_nothing(self, smtp, deliver, make_upload):
        sysadmin = factories.Sysadmin()
        request_id, _tok = _submitted(smtp, deliver, make_upload)
        ctx = {"user": sysadmin["name"]}
        helpers.call_action("dgaaccounts_request_reject", context=dict(ctx), id=request_id,
                            reason="no")
        before = row_counts()
        for action, extra in [("dgaaccounts_request_approve", {}),
                              ("dgaaccounts_request_reject", {"reason": "again"}),
                              ("dgaaccounts_request_return", {"reason": "again"})]:
            with pytest.raises(tk.ValidationError) as e:
                helpers.call_action(action, context=dict(ctx), id=request_id, **extra)
            assert "state" in e.value.error_dict
        assert row_counts() == before
        assert model.Session.get(Request, request_id).decision_note == "no"

    def test_withdraw_by_applicant_frees_the_email(self, smtp, deliver, make_upload):
        request_id, tok = _submitted(smtp, deliver, make_upload)
        helpers.call_action("dgaaccounts_request_withdraw", id=request_id, token=tok)
        assert model.Session.get(Request, request_id).state == "withdrawn"
        again = helpers.call_action("dgaaccounts_agency_register",
                                    **registration(name="somchai2"))
        assert again["state"] == "awaiting_verification"

    def test_every_change_is_audited(self, smtp, deliver, make_upload):
        sysadmin = factories.Sysadmin()
        request_id, _tok = _submitted(smtp, deliver, make_upload)
        helpers.call_action("dgaaccounts_request_approve", context={"user": sysadmin["name"]},
                            id=request_id, organization=factories.Organization()["id"])
        history = helpers.call_action("dgaaccounts_request_show", id=request_id)["history"]
        assert [e["action"] for e in history] == [
            "register", "verify_email", "upload_document", "approve"]
        assert history[-1]["actor_id"] == sysadmin["id"]
        assert [e["to_state"] for e in history] == [
            "awaiting_verification", "awaiting_document", "submitted", "approved"]
        audit = helpers.call_action("dgaaccounts_audit_list", request_id=request_id)
        assert audit["count"] == 4

    def test_audit_log_is_append_only(self, smtp, deliver):
        _register(smtp, deliver)
        with pytest.raises(Exception, match="append-only"):
            model.Session.execute(sa.text("UPDATE dgaaccounts_audit SET action = 'x'"))
        model.Session.rollback()


class TestBadRegistrations:
    """Each bad input: a per-field error and nothing left behind."""

    @pytest.fixture(autouse=True)
    def _existing(self, clean_db):
        factories.User(name="taken", email="Taken.Person@dga.or.th")
        factories.Organization(name="gone", state="deleted")

    @pytest.mark.parametrize(("overrides", "field"), [
        ({"name": "taken"}, "name"),
        ({"email": "taken.person@DGA.or.th"}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "short1!"}, "password"),
        ({"password": "aaaaaaaaaaaa"}, "password"),
        ({"password": "somchai"}, "password"),
        ({"organization": "no-such-org", "agency_name": ""}, "organization"),
        ({"organization": "gone", "agency_name": ""}, "organization"),
        ({"agency_name": "", "organization": ""}, "organization"),
        ({"fullname": ""}, "fullname"),
        ({"position": ""}, "position"),
        ({"phone": "call me"}, "phone"),
        ({"superior_name": ""}, "superior_name"),
        ({"superior_position": ""}, "superior_position"),
        ({"name": ""}, "name"),
        ({"fullname": "Evil\u202eName"}, "fullname"),
        ({"position": "x" * 201}, "position"),
    ])
    def test_bad_field(self, overrides, field, storage_root, smtp, deliver):
        before = row_counts()
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_agency_register", **registration(**overrides))
        assert field in e.value.error_dict
        assert row_counts() == before
        assert deliver() == 0
        assert smtp.messages == []

    def test_email_outside_agency_domains(self, ckan_config, monkeypatch):
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.agency_email_domains",
                            ["go.th", "or.th"])
        before = row_counts()
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_agency_register",
                                **registration(email="somchai@gmail.com"))
        assert "email" in e.value.error_dict
        assert row_counts() == before
        ok = helpers.call_action("dgaaccounts_agency_register",
                                 **registration(email="somchai@moi.go.th"))
        assert ok["state"] == "awaiting_verification"

    def test_email_wildcards_do_not_match_other_addresses(self):
        result = helpers.call_action("dgaaccounts_agency_register",
                                     **registration(email="t_ken.person@dga.or.th"))
        assert result["state"] == "awaiting_verification"

    def test_duplicate_open_registration_email(self):
        helpers.call_action("dgaaccounts_agency_register", **registration())
        before = row_counts()
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_agency_register",
                                **registration(name="other", email=" SomChai@DGA.or.th"))
        assert "email" in e.value.error_dict
        assert row_counts() == before

    @pytest.mark.parametrize(("content", "filename"), [
        (b"", "empty.pdf"),
        (b"<html><script>alert(1)</script></html>", "form.pdf"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>', "form.pdf"),
        (b"MZ\x90\x00\x03" + b"\x00" * 100, "form.pdf"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "form.pdf"),
        (PNG, "form.pdf"),
        (PDF, "../../etc/form.pdf"),
        (PDF, "a/b.pdf"),
        (PDF, "form\x00.pdf"),
        (PDF, "form\x07.pdf"),
        (PDF, "evil\u202efdp.exe.pdf"),
        (b"%PDF-1.4\n<html><script>alert(1)</script>", "form.pdf"),
    ])
    def test_bad_file_leaves_nothing(self, content, filename, make_upload, storage_root):
        before = row_counts()
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_agency_register", **registration(
                signed_form=make_upload(content, filename)))
        assert "signed_form" in e.value.error_dict
        assert row_counts() == before
        assert stored_files(storage_root) == []

    def test_oversized_file_leaves_nothing(self, make_upload, storage_root, ckan_config,
                                           monkeypatch):
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.upload_max_size", 1024)
        before = row_counts()
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_agency_register", **registration(
                signed_form=make_upload(PDF + b"0" * 1024, "form.pdf")))
        assert "signed_form" in e.value.error_dict
        assert row_counts() == before
        assert stored_files(storage_root) == []

    def test_valid_form_with_invalid_field_leaves_no_file(self, make_upload, storage_root):
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_agency_register", **registration(
                name="taken", signed_form=make_upload(PDF, "form.pdf")))
        assert stored_files(storage_root) == []


class TestQueue:
    def test_list_is_oldest_due_first_with_filters(self, smtp, deliver, make_upload):
        ids = []
        for i in range(3):
            request_id, _t = _submitted(smtp, deliver, make_upload, name=f"officer{i}",
                                        email=f"officer{i}@dga.or.th")
            ids.append(request_id)
        # The first is overdue.
        model.Session.query(Request).filter(Request.id == ids[0]).update(
            {"due": utcnow() - datetime.timedelta(hours=1)})
        model.Session.commit()
        helpers.call_action("dgaaccounts_agency_register",
                            **registration(name="fresh", email="fresh@dga.or.th"))
        result = helpers.call_action("dgaaccounts_request_list")
        assert result["count"] == 4
        assert [r["id"] for r in result["results"][:3]] == ids
        assert result["results"][0]["overdue"] is True
        assert result["results"][3]["state"] == "awaiting_verification"
        overdue = helpers.call_action("dgaaccounts_request_list", overdue=True)
        assert [r["id"] for r in overdue["results"]] == [ids[0]]
        assert helpers.call_action("dgaaccounts_request_list", q="officer1")["count"] == 1
        assert helpers.call_action("dgaaccounts_request_list", q="%")["count"] == 0
        assert helpers.call_action("dgaaccounts_request_list", state="submitted")["count"] == 3
        page = helpers.call_action("dgaaccounts_request_list", limit=2, offset=2)
        assert len(page["results"]) == 2
        assert page["count"] == 4
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_request_list", state="bogus")

    def test_show_unknown_request_is_not_found(self):
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_request_show", id="nope")


class TestRateLimits:
    def test_registrations_per_address_are_limited_in_redis(self, ckan_config, monkeypatch):
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.rate_limit", 2)
        for name in ("first1", "second2"):
            with pytest.raises(tk.ValidationError) as e:
                helpers.call_action("dgaaccounts_agency_register",
                                    **registration(name=name, phone="bad"))
            assert "phone" in e.value.error_dict
        before = row_counts()
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_agency_register", **registration())
        assert "rate_limit" in e.value.error_dict
        assert row_counts() == before
        other = helpers.call_action("dgaaccounts_agency_register",
                                    **registration(email="other@dga.or.th"))
        assert other["state"] == "awaiting_verification"

    def test_resend_is_limited_per_address(self, ckan_config, monkeypatch):
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.rate_limit", 1)
        helpers.call_action("dgaaccounts_verification_resend", email="a@dga.or.th")
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_verification_resend", email=" A@DGA.or.th")
        assert "rate_limit" in e.value.error_dict


class TestPasswordReset:
    def test_pending_applicant_cannot_reset_password_to_activate(self, app, smtp, deliver):
        helpers.call_action("dgaaccounts_agency_register", **registration())
        user = model.User.by_name("somchai")
        from ckan.lib import mailer
        mailer.create_reset_key(user)
        key = model.User.by_name("somchai").reset_key
        resp = app.get(f"/user/reset/{user.id}?key={key}", status=403)
        assert "waiting" in resp.body or resp.status_code == 403
        resp = app.post(f"/user/reset/{user.id}?key={key}",
                        data={"password1": "New-Passw0rd-123", "password2": "New-Passw0rd-123"},
                        status=403)
        assert model.User.by_name("somchai").state == "pending"

    def test_active_users_can_still_reset(self, app):
        user = factories.User()
        from ckan.lib import mailer
        obj = model.User.get(user["id"])
        mailer.create_reset_key(obj)
        app.get(f"/user/reset/{user['id']}?key={model.User.get(user['id']).reset_key}",
                status=200)


def test_workflow_states_are_complete():
    for kind, events in workflow.TRANSITIONS.items():
        for name, event in events.items():
            assert event.target in workflow.STATES, (kind, name)
            assert set(event.sources) <= set(workflow.STATES), (kind, name)


def developer(**overrides):
    data = {"name": "dev_lek", "fullname": "Lek Developer", "email": "lek@example.com",
            "password": "Dev-Passw0rd-42", "purpose": "แอปแสดงคุณภาพอากาศ"}
    data.update(overrides)
    return data


class TestDeveloperSignup:
    def test_verification_activates_and_returns_a_working_api_token(self, smtp, deliver):
        result = helpers.call_action("dgaaccounts_developer_register", **developer())
        assert result["state"] == "awaiting_verification"
        assert model.User.by_name("dev_lek").state == "pending"
        deliver()
        token = smtp.link("lek@example.com")
        verified = helpers.call_action("dgaaccounts_email_verify", token=token)
        assert verified["state"] == "approved"
        assert model.User.by_name("dev_lek").state == "active"
        listed = helpers.call_action("api_token_list", user_id="dev_lek")
        assert len(listed) == 1
        # The token is CKAN's own (the HTTP use of it is proven in tests/e2e).
        from ckan.lib.api_token import get_user_from_token
        assert get_user_from_token(verified["api_token"]).name == "dev_lek"
        deliver()
        # the welcome, and the notice of the new token (every token created is told of)
        subjects = [m["Subject"] for m in smtp.to("lek@example.com")]
        assert any("Welcome" in s for s in subjects), subjects
        assert any("new API token" in s for s in subjects), subjects

    def test_replayed_link_issues_no_second_token(self, smtp, deliver):
        helpers.call_action("dgaaccounts_developer_register", **developer())
        deliver()
        token = smtp.link("lek@example.com")
        helpers.call_action("dgaaccounts_email_verify", token=token)
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_email_verify", token=token)
        assert len(helpers.call_action("api_token_list", user_id="dev_lek")) == 1

    def test_signing_up_again_while_pending_resends_and_never_duplicates(self, smtp, deliver):
        first = helpers.call_action("dgaaccounts_developer_register", **developer())
        again = helpers.call_action("dgaaccounts_developer_register",
                                    **developer(name="other_name", email=" LEK@example.com"))
        assert again["request_id"] == first["request_id"]
        assert model.Session.query(Request).count() == 1
        assert model.User.by_name("other_name") is None
        assert deliver() == 2
        assert len(smtp.to("lek@example.com")) == 2

    def test_signing_up_again_is_checked_like_a_new_sign_up(self, smtp, deliver):
        first = helpers.call_action("dgaaccounts_developer_register", **developer())
        assert set(first) == {"request_id", "state"}  # no reference to tell the two apart
        same = helpers.call_action("dgaaccounts_developer_register", **developer())
        assert same == first  # the applicant's own login name is not "taken" from them
        factories.User(name="taken")
        for overrides, field in (({"password": "short"}, "password"), ({"name": "taken"}, "name"),
                                 ({"fullname": ""}, "fullname")):
            with pytest.raises(tk.ValidationError) as e:
                helpers.call_action("dgaaccounts_developer_register", **developer(**overrides))
            assert set(e.value.error_dict) == {field}
        assert deliver() == 2  # the first link and one resend, nothing for the refused ones

    def test_an_applicant_token_is_not_a_verification_token(self, smtp, deliver):
        _result, token = _register(smtp, deliver)
        applicant = helpers.call_action("dgaaccounts_email_verify", token=token)
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_email_verify", token=applicant["applicant_token"])

    @pytest.mark.parametrize(("overrides", "field"), [
        ({"email": "bad"}, "email"), ({"name": ""}, "name"), ({"password": "x"}, "password"),
        ({"purpose": "x" * 1001}, "purpose"), ({"fullname": "a\x00b"}, "fullname"),
    ])
    def test_bad_input_leaves_nothing(self, overrides, field):
        before = row_counts()
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_developer_register", **developer(**overrides))
        assert field in e.value.error_dict
        assert row_counts() == before

    def test_unverified_signups_expire_and_free_username_and_email(self, smtp, deliver, cli):
        helpers.call_action("dgaaccounts_developer_register", **developer())
        helpers.call_action("dgaaccounts_agency_register", **registration())
        model.Session.query(Request).filter(Request.kind == "developer_registration").update(
            {"created": utcnow() - datetime.timedelta(days=3)})
        model.Session.commit()
        result = dga_cli(cli, "expire")
        assert result.exit_code == 0, result.output
        assert "expired: 1" in result.output
        model.Session.remove()
        assert model.User.by_name("dev_lek") is None
        assert model.User.by_name("somchai").state == "pending"
        actions = [e.action for e in model.Session.query(AuditEvent)]
        assert "expire" in actions
        again = helpers.call_action("dgaaccounts_developer_register", **developer())
        assert again["state"] == "awaiting_verification"
