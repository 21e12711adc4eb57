"""The actions behind the pages (logic/account_action.py): what the applicant's and sysadmins'
pages used to read from the database themselves."""
from __future__ import annotations

import datetime

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import identity, storage, tokens
from ckanext.dgaaccounts.model import AuditEvent, Document, OutboxMessage, Request, utcnow
from ckanext.dgaaccounts.tests.conftest import PDF, Upload, registration

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]

ANONYMOUS = {"user": "", "ignore_auth": False}


def as_user(name: str) -> dict[str, object]:
    return {"user": name, "ignore_auth": False}


def verified_agency(name: str = "somchai", **extra: object) -> tuple[str, str]:
    """An agency registration, email confirmed: its id and the applicant token."""
    result = helpers.call_action("dgaaccounts_agency_register", **registration(
        name=name, email=f"{name}@dga.or.th", **extra))
    req = model.Session.get(Request, result["request_id"])
    verify = tokens.mint(req, tokens.VERIFY)
    model.Session.commit()
    verified = helpers.call_action("dgaaccounts_email_verify", token=verify)
    return result["request_id"], verified["applicant_token"]


def approved_officer(name: str = "somchai") -> str:
    """An agency officer, approved into the organization ``dga``; returns the request id."""
    factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล")
    request_id, token = verified_agency(name, organization="dga", agency_name="")
    helpers.call_action("dgaaccounts_request_document_upload", id=request_id, token=token,
                        signed_form=Upload(PDF, "form.pdf"))
    helpers.call_action("dgaaccounts_request_approve", context=as_user(
        factories.Sysadmin()["name"]), id=request_id)
    return request_id


class TestAccountShow:
    def test_a_plain_user_has_no_officer_details_and_no_open_request(self):
        user = factories.User()
        shown = helpers.call_action("dgaaccounts_account_show", context=as_user(user["name"]))
        assert shown == {"id": user["id"], "name": user["name"], "state": "active",
                         "suspended": False, "officer": None, "open_account_request": None}

    def test_the_open_cancellation_request_and_the_officer_details(self):
        approved_officer()
        req = helpers.call_action("dgaaccounts_cancellation_request_create",
                                  context=as_user("somchai"), kind="suspension",
                                  reason="ลาศึกษาต่อ")
        shown = helpers.call_action("dgaaccounts_account_show", context=as_user("somchai"))
        assert shown["open_account_request"] == {
            "id": req["id"], "reference": req["reference"], "kind": "suspension",
            "state": "awaiting_document"}
        assert shown["officer"]["superior_name"] == registration()["superior_name"]

    def test_a_sysadmin_sees_a_suspended_account_by_name(self):
        user = factories.User(name="malee")
        req = helpers.call_action("dgaaccounts_cancellation_request_create",
                                  context=as_user("malee"), kind="suspension", reason="พัก")
        helpers.call_action("dgaaccounts_request_document_upload", context=as_user("malee"),
                            id=req["id"], signed_form=Upload(PDF, "form.pdf"))
        admin = factories.Sysadmin()["name"]
        helpers.call_action("dgaaccounts_request_approve", context=as_user(admin), id=req["id"])
        shown = helpers.call_action("dgaaccounts_account_show", context=as_user(admin),
                                    id="malee")
        assert (shown["id"], shown["state"], shown["suspended"]) == (user["id"], "pending", True)
        assert shown["open_account_request"] is None

    def test_another_users_account_and_anonymous_callers_are_refused(self):
        factories.User(name="malee")
        other = factories.User()
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_account_show", context=as_user(other["name"]),
                                id="malee")
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_account_show", context=dict(ANONYMOUS))

    def test_unknown_user_is_not_found_and_bad_id_a_field_error(self):
        admin = factories.Sysadmin()["name"]
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_account_show", context=as_user(admin), id="nobody")
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_account_show", context=as_user(admin), id=["x"])
        assert "id" in e.value.error_dict


class TestRequestFormShow:
    def test_the_application_form_of_an_agency_registration(self):
        request_id, token = verified_agency()
        form = helpers.call_action("dgaaccounts_request_form_show", context=dict(ANONYMOUS),
                                   id=request_id, token=token)
        assert form["kind"] == "agency_registration"
        reference = model.Session.get(Request, request_id).reference
        assert form["fields"] == {
            "reference": reference, "fullname": "สมชาย ใจดี", "username": "somchai",
            "email": "somchai@dga.or.th", "phone": "02 612 6000",  # as typed (the schema keeps it)
            "position": registration()["position"], "agency": registration()["agency_name"],
            "superior_name": registration()["superior_name"],
            "superior_position": registration()["superior_position"]}

    def test_an_officers_cancellation_form_has_the_superior(self):
        approved_officer()
        req = helpers.call_action("dgaaccounts_cancellation_request_create",
                                  context=as_user("somchai"), kind="cancellation",
                                  reason="ย้ายหน่วยงาน")
        form = helpers.call_action("dgaaccounts_request_form_show", context=as_user("somchai"),
                                   id=req["id"])
        fields = form["fields"]
        assert (form["kind"], fields["kind"], fields["reason"]) == (
            "cancellation", "cancellation", "ย้ายหน่วยงาน")
        assert fields["with_superior"] is True
        assert fields["superior_name"] == registration()["superior_name"]
        assert fields["memberships"] == [["สำนักงานพัฒนารัฐบาลดิจิทัล", "editor"]]

    def test_a_developer_sign_up_has_no_form(self):
        result = helpers.call_action("dgaaccounts_developer_register", name="dev1",
                                     fullname="Dev One", email="dev1@example.com",
                                     password="Correct-Horse-42")
        with pytest.raises(tk.ObjectNotFound) as e:
            helpers.call_action("dgaaccounts_request_form_show",
                                context=as_user(factories.Sysadmin()["name"]),
                                id=result["request_id"])
        assert "no form" in str(e.value.message)

    def test_another_applicants_token_is_refused(self):
        request_id, _token = verified_agency()
        _other_id, other_token = verified_agency("somsri")
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_request_form_show", context=dict(ANONYMOUS),
                                id=request_id, token=other_token)


class TestDocumentShow:
    @pytest.fixture
    def scan(self):
        request_id, token = verified_agency()
        helpers.call_action("dgaaccounts_request_document_upload", id=request_id, token=token,
                            signed_form=Upload(PDF, "แบบฟอร์ม.pdf"))
        doc = model.Session.query(Document).filter_by(request_id=request_id).one()
        return request_id, token, doc

    def test_the_applicant_gets_the_metadata_and_the_page_its_row(self, scan):
        request_id, token, doc = scan
        context = dict(ANONYMOUS)
        shown = helpers.call_action("dgaaccounts_document_show", context=context,
                                    id=request_id, document_id=doc.id, token=token)
        assert shown == doc.as_dict()
        assert shown["original_name"] == "แบบฟอร์ม.pdf"
        assert "storage_key" not in shown
        assert context["dgaaccounts_document"].storage_key == doc.storage_key

    def test_a_purged_or_missing_scan_is_not_found(self, scan):
        request_id, token, doc = scan
        storage.get_store().delete(doc.storage_key)
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_document_show", context=dict(ANONYMOUS),
                                id=request_id, document_id=doc.id, token=token)
        model.Session.query(Document).update({"purged": utcnow()})
        model.Session.commit()
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_document_show", context=dict(ANONYMOUS),
                                id=request_id, document_id=doc.id, token=token)

    def test_a_document_of_another_request_is_not_found(self, scan):
        _request_id, _token, doc = scan
        other_id, other_token = verified_agency("somsri")
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_document_show", context=dict(ANONYMOUS),
                                id=other_id, document_id=doc.id, token=other_token)

    def test_unknown_request_is_refused_like_another_ones(self, scan):
        _request_id, token, doc = scan
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_document_show", context=dict(ANONYMOUS),
                                id="no-such-request", document_id=doc.id, token=token)


class TestVerificationShow:
    def test_a_link_before_and_after_its_use(self):
        result = helpers.call_action("dgaaccounts_developer_register", name="dev1",
                                     fullname="Dev One", email="dev1@example.com",
                                     password="Correct-Horse-42")
        verify = tokens.mint(model.Session.get(Request, result["request_id"]), tokens.VERIFY)
        model.Session.commit()
        before = helpers.call_action("dgaaccounts_verification_show", context=dict(ANONYMOUS),
                                     token=verify)
        assert before == {"kind": "developer_registration", "used": None}
        helpers.call_action("dgaaccounts_email_verify", context=dict(ANONYMOUS), token=verify)
        after = helpers.call_action("dgaaccounts_verification_show", context=dict(ANONYMOUS),
                                    token=verify)
        used = datetime.datetime.fromisoformat(after["used"])
        assert abs((utcnow() - used).total_seconds()) < 60

    def test_unknown_link_is_not_found_and_no_text_a_field_error(self):
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_verification_show", context=dict(ANONYMOUS),
                                token="x" * 40)
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_verification_show", context=dict(ANONYMOUS),
                                token=12345)
        assert "token" in e.value.error_dict


def test_organization_list_is_every_active_organization_by_title():
    factories.Organization(name="b-org", title="ข กรม")
    factories.Organization(name="a-org", title="ก กรม")
    gone = factories.Organization(name="gone", title="ค")
    helpers.call_action("organization_delete", id=gone["id"])
    found = helpers.call_action("dgaaccounts_organization_list", context=dict(ANONYMOUS))
    assert [(o["name"], o["title"]) for o in found] == [("a-org", "ก กรม"), ("b-org", "ข กรม")]
    assert all(o["id"] for o in found)


class TestPasswordResetRequest:
    def _ask(self, who: object) -> dict[str, object]:
        return helpers.call_action("dgaaccounts_password_reset_request",
                                   context=dict(ANONYMOUS), user=who)

    def test_an_active_account_gets_one_email_and_everyone_the_same_answer(self):
        factories.User(name="malee", email="malee@example.com")
        verified_agency()  # pending: a reset would activate it
        answers = {str(self._ask(who)) for who in (" Malee@Example.com ", "nobody",
                                                  "somchai", "somchai@dga.or.th")}
        assert len(answers) == 1
        queued = model.Session.query(OutboxMessage).filter_by(template="password_reset").all()
        assert [m.recipient for m in queued] == ["malee@example.com"]

    @pytest.mark.parametrize("who", ["", "   ", None, 12345, ["malee"]])
    def test_without_a_name_or_address_it_asks_for_one(self, who):
        with pytest.raises(tk.ValidationError) as e:
            self._ask(who)
        assert list(e.value.error_dict) == ["user"]
        assert model.Session.query(OutboxMessage).count() == 0


class TestRegistrationFromAVerifiedIdentity:
    """The provider sign-in's registration page hands the verified identity to the register
    action in its context (``identity.CONTEXT_KEY``, never in the data): the action links it in
    the registration's own transaction."""

    VERIFIED = identity.Verified(provider="thaid", issuer="https://idp.example", sub="sub-1")

    def _register(self) -> str:
        return helpers.call_action(
            "dgaaccounts_agency_register",
            context={"user": "", identity.CONTEXT_KEY: self.VERIFIED},
            **registration())["request_id"]

    def test_the_identity_is_linked_to_the_new_applicant_with_the_registration(self):
        request_id = self._register()
        row = identity.find(self.VERIFIED.issuer, self.VERIFIED.sub)
        assert row.user_id == model.Session.get(Request, request_id).user_id
        assert row.linked_by is None
        actions = [e.action for e in model.Session.query(AuditEvent).order_by(AuditEvent.id)]
        assert sorted(actions) == ["identity_linked", "register"]

    def test_an_identity_linked_meanwhile_refuses_the_registration_and_makes_nothing(self):
        other = factories.User()
        identity.link(model.User.get(other["id"]), "thaid", self.VERIFIED.issuer,
                      self.VERIFIED.sub, None, None)
        model.Session.commit()
        users = model.Session.query(model.User).count()
        with pytest.raises(tk.ValidationError) as e:
            self._register()
        assert list(e.value.error_dict) == ["identity"]
        assert model.Session.query(Request).count() == 0
        assert model.Session.query(model.User).count() == users
        assert identity.find(self.VERIFIED.issuer, self.VERIFIED.sub).user_id == other["id"]
        assert model.Session.query(identity.IdentityLink).count() == 1
