"""Issue 12 (fields a Thai officer fills the Thai way; spam sign-ups; the chart's labels)
through the actions and CKAN's test app: phone numbers with an extension, the agency by its
title, CKAN's messages in plain words, rejecting an unverified sign-up as spam."""
from __future__ import annotations

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import helpers as h
from ckanext.dgaaccounts.model import AuditEvent, OutboxMessage, Request
from ckanext.dgaaccounts.tests.conftest import registration, sign_in

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]


def _register(**overrides) -> Request:
    result = helpers.call_action("dgaaccounts_agency_register", **registration(**overrides))
    return model.Session.get(Request, result["request_id"])


class TestPhoneWithExtension:
    @pytest.mark.parametrize(("typed", "kept"), [
        ("02 612 6000 ต่อ 1234", "02 612 6000 ต่อ 1234"),
        ("02 612 6000ต่อ1234", "02 612 6000 ต่อ 1234"),
        ("02-612-6000  ext. 1234", "02-612-6000 ext. 1234"),
        ("02 612 6000 Ext 99", "02 612 6000 Ext 99"),
        ("026126000 #1234", "026126000 #1234"),
        ("02 612 6000 # 1234", "02 612 6000 #1234"),
        ("0812345678 x12", "0812345678 x12"),
        ("  081\u00a0234   5678 ", "081 234 5678"),
        ("+66 2 612 6000", "+66 2 612 6000"),
    ])
    def test_kept_as_typed_with_spaces_normalized(self, typed, kept):
        req = _register(phone=typed)
        assert req.details["phone"] == kept

    @pytest.mark.parametrize("typed", [
        "ต่อ 1234", "02 612 ต่อ 1234", "02 612 6000 ต่อ", "02 612 6000 ต่อ 1234567",
        "02 612 6000 ต่อ abc", "02 612 6000 โทร 1234", "#1234",
    ])
    def test_bad_numbers_are_refused_with_an_example(self, typed):
        with pytest.raises(tk.ValidationError) as error:
            _register(phone=typed)
        assert "ต่อ 1234" in error.value.error_dict["phone"][0]
        assert model.Session.query(Request).count() == 0


class TestAgencyByTitle:
    @pytest.fixture
    def orgs(self):
        dga = factories.Organization(
            name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)",
            extras=[{"key": "title_en", "value": "Digital Government Development Agency"}])
        nso = factories.Organization(name="nso", title="สำนักงานสถิติแห่งชาติ",
                                     extras=[{"key": "title_en",
                                              "value": "National Statistical Office"}])
        return {"dga": dga["id"], "nso": nso["id"]}

    @pytest.mark.parametrize(("typed", "org"), [
        ("สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)", "dga"),
        ("  สำนักงานสถิติแห่งชาติ ", "nso"),
        ("Digital Government Development Agency", "dga"),
        ("national   statistical office", "nso"),
        ("รัฐบาลดิจิทัล", "dga"),  # found in one title only
        ("Statistical", "nso"),
        ("dga", "dga"),  # a URL name, as API clients send it
    ])
    def test_an_exact_or_unique_title_is_accepted(self, orgs, typed, org):
        req = _register(organization=typed, agency_name="")
        assert req.organization_id == orgs[org]

    def test_text_in_several_titles_asks_to_choose(self, orgs):
        with pytest.raises(tk.ValidationError) as error:
            _register(organization="สำนักงาน", agency_name="")
        assert "choose yours from the list" in error.value.error_dict["organization"][0]

    def test_an_unknown_agency_is_not_taken_for_another(self, orgs):
        with pytest.raises(tk.ValidationError) as error:
            _register(organization="กรมที่ไม่มีอยู่จริง", agency_name="")
        assert error.value.error_dict["organization"]
        assert model.Session.query(Request).count() == 0

    def test_the_type_ahead_lists_thai_and_english_titles(self, orgs):
        listed = {o["name"]: o for o in h.dgaaccounts_organizations()}
        assert listed["dga"]["title_en"] == "Digital Government Development Agency"
        assert listed["nso"]["title"] == "สำนักงานสถิติแห่งชาติ"
        assert h.dgaaccounts_organization_title("dga") == listed["dga"]["title"]
        assert h.dgaaccounts_organization_title(orgs["nso"]) == "สำนักงานสถิติแห่งชาติ"
        assert h.dgaaccounts_organization_title("typed by hand") == "typed by hand"


class TestPlainMessages:
    def test_missing_values_and_the_username_rule_in_plain_words(self):
        with pytest.raises(tk.ValidationError) as error:
            helpers.call_action("dgaaccounts_developer_register", name="สมชาย", fullname="",
                                email="not-an-address", password="Correct-Horse-42")
        errors = error.value.error_dict
        assert errors["fullname"] == ["Fill in this field."]
        assert "lowercase English letters" in errors["name"][0]
        assert errors["email"] == ["Enter an email address, for example somchai@agency.go.th."]
        text = str(errors)
        assert "Missing value" not in text
        assert "purely lowercase" not in text


class TestRejectAsSpam:
    @pytest.fixture
    def unverified(self, smtp, deliver):
        req = _register()
        deliver()
        return req.id

    def test_only_sysadmins_may(self, unverified):
        user = factories.User()
        for context in ({"user": user["name"]}, {"user": ""}):
            with pytest.raises(tk.NotAuthorized):
                helpers.call_auth("dgaaccounts_request_reject_spam", context, id=unverified)
        admin = factories.Sysadmin()
        assert helpers.call_auth("dgaaccounts_request_reject_spam", {"user": admin["name"]},
                                 id=unverified)

    def test_closes_the_sign_up_removes_the_account_emails_nobody_and_is_audited(
            self, unverified, smtp, deliver):
        admin = factories.Sysadmin()
        mails_before = model.Session.query(OutboxMessage).count()
        token = smtp.link("somchai@dga.or.th")
        result = helpers.call_action("dgaaccounts_request_reject_spam",
                                     {"user": admin["name"]}, id=unverified, reason="bot")
        assert result["state"] == "rejected"
        model.Session.expire_all()
        req = model.Session.get(Request, unverified)
        assert req.decided_by == admin["id"]
        assert model.User.get(req.user_id).state == "deleted"
        assert model.Session.query(OutboxMessage).count() == mails_before
        [event] = model.Session.query(AuditEvent).filter(
            AuditEvent.request_id == unverified, AuditEvent.action == "reject_spam").all()
        assert (event.actor_id, event.from_state, event.to_state) == (
            admin["id"], "awaiting_verification", "rejected")
        assert event.details["note"] == "bot"
        # The link in the email no longer works, and the address can register again.
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_email_verify", token=token)
        assert _register(name="somchai2").state == "awaiting_verification"

    def test_only_while_awaiting_verification(self, unverified, smtp):
        admin = factories.Sysadmin()
        helpers.call_action("dgaaccounts_email_verify", token=smtp.link("somchai@dga.or.th"))
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_request_reject_spam", {"user": admin["name"]},
                                id=unverified)
        model.Session.expire_all()
        assert model.Session.get(Request, unverified).state == "awaiting_document"


class TestUserProfile:
    def test_a_suspended_profile_says_suspended_and_lists_the_requests(self, app):
        from ckanext.dgaaccounts import account

        factories.Sysadmin(name="profile-admin", password="Sysadmin-Passw0rd-42")
        user = factories.User(name="paused")
        obj = model.User.get(user["id"])
        account.suspend(obj)
        model.Session.add(Request(reference="DGA-2026-000042", kind="suspension",
                                  state="approved", user_id=obj.id, email=obj.email or "x"))
        model.Session.commit()
        page = sign_in(app, "profile-admin", "Sysadmin-Passw0rd-42").get("/user/paused")
        assert 'data-state="suspended"' in page.body
        assert "dgaaccounts-profile-reactivate" in page.body
        assert "DGA-2026-000042" in page.body
        assert "<dd>pending</dd>" not in page.body


def test_chart_labels_never_overlap():
    for count in (1, 5, 12, 13, 26, 53, 120):
        periods = [{"start": f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}", "decided": i % 4,
                    "within_target": i % 2} for i in range(count)]
        chart = h.dgaaccounts_sla_chart(periods)
        shown = [b["label_x"] for b in chart["bars"] if b["label"]]
        assert shown, count
        width = 10 * 10 * 0.62  # ten characters at font-size 10
        assert all(b - a >= width for a, b in zip(shown, shown[1:], strict=False)), count
