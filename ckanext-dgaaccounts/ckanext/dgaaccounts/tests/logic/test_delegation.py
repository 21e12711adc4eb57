"""Approval delegated to agencies, through the actions as a client calls them (auth included).

An organization's admins endorse (mode ``endorse``) or decide (mode ``delegated``) the requests
for their own organization, within limits the actions check twice: in the auth function, and
again under lock when the decision is made (recheck.decider). Every refusal changes nothing.
"""
from __future__ import annotations

from typing import Any

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import approval, tokens
from ckanext.dgaaccounts.model import AuditEvent, OutboxMessage, Request
from ckanext.dgaaccounts.tests.conftest import PDF, Upload, registration, snapshot

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "with_request_context"),
]


class World:
    """DGA (two admins, an editor officer) and NSO (one admin), a sysadmin, and a submitted
    agency registration for DGA."""

    def __init__(self) -> None:
        self.sysadmin = factories.Sysadmin(name="root", email="root@dga.or.th")
        for name in ("dga_admin", "dga_admin2", "nso_admin", "officer"):
            factories.User(name=name, email=f"{name}@dga.or.th")
        factories.Organization(name="dga", title="DGA", users=[
            {"name": "dga_admin", "capacity": "admin"},
            {"name": "dga_admin2", "capacity": "admin"},
            {"name": "officer", "capacity": "editor"}])
        factories.Organization(name="nso", title="NSO", users=[
            {"name": "nso_admin", "capacity": "admin"}])
        self.request_id = submitted_registration("somchai")

    @staticmethod
    def mode(mode: str, org: str = "dga") -> None:
        helpers.call_action("dgaaccounts_approval_mode_update", organization=org, mode=mode)


def submitted_registration(name: str, org: str = "dga") -> str:
    result = helpers.call_action("dgaaccounts_agency_register", **registration(
        name=name, email=f"{name}@dga.or.th", organization=org, agency_name=""))
    req = model.Session.get(Request, result["request_id"])
    verify = tokens.mint(req, tokens.VERIFY)
    model.Session.commit()
    token = helpers.call_action("dgaaccounts_email_verify", token=verify)["applicant_token"]
    helpers.call_action("dgaaccounts_request_document_upload", id=result["request_id"],
                        token=token, signed_form=Upload(PDF, "form.pdf"))
    return result["request_id"]


def call(user: str, action: str, **data: Any) -> dict[str, Any]:
    return helpers.call_action(action, context={"user": user, "ignore_auth": False}, **data)


def refused(user: str, action: str, **data: Any) -> str:
    """The action refuses ``user`` (NotAuthorized) and changes nothing; returns the message."""
    before = snapshot()
    with pytest.raises(tk.NotAuthorized) as error:
        call(user, action, **data)
    assert snapshot() == before, f"{action} by {user} changed something"
    return str(error.value)


def _state(request_id: str) -> str:
    model.Session.expire_all()
    return model.Session.get(Request, request_id).state


def _role(org: str, user: str) -> str | None:
    return model.Session.query(model.Member.capacity).filter(
        model.Member.group_id == model.Group.get(org).id, model.Member.table_name == "user",
        model.Member.table_id == model.User.get(user).id, model.Member.state == "active",
    ).scalar()


@pytest.fixture
def world(clean_db) -> World:
    return World()


# -- the approval mode itself -------------------------------------------------------------------

class TestApprovalMode:
    def test_sysadmin_sets_and_audits_the_mode(self, world):
        shown = call("root", "dgaaccounts_approval_mode_update", organization="dga",
                     mode="delegated")
        assert (shown["mode"], shown["stored"], shown["default"]) == (
            "delegated", "delegated", "central")
        [event] = model.Session.query(AuditEvent).filter(
            AuditEvent.action == "approval_mode_set").all()
        assert event.actor_id == world.sysadmin["id"]
        assert (event.details["organization"], event.details["from"], event.details["to"]) == (
            "dga", "central", "delegated")
        back = call("root", "dgaaccounts_approval_mode_update", organization="dga", mode="default")
        assert (back["mode"], back["stored"]) == ("central", None)

    def test_organization_admins_read_their_own_mode_only(self, world):
        world.mode("endorse")
        assert call("dga_admin", "dgaaccounts_approval_mode_show", organization="dga")[
            "mode"] == "endorse"
        refused("nso_admin", "dgaaccounts_approval_mode_show", organization="dga")
        refused("dga_admin", "dgaaccounts_approval_mode_update", organization="dga",
                mode="delegated")
        refused("officer", "dgaaccounts_approval_mode_show", organization="dga")

    @pytest.mark.parametrize(("data", "field"), [
        ({"organization": "dga", "mode": "anarchy"}, "mode"),
        ({"organization": "dga"}, "mode"),
        ({"organization": "no-such-org", "mode": "central"}, "organization"),
        ({"mode": "central"}, "organization"),
        ({"organization": ["dga"], "mode": "central"}, "organization"),
    ])
    def test_bad_input_is_a_field_error_and_changes_nothing(self, world, data, field):
        before = snapshot()
        with pytest.raises(tk.ValidationError) as error:
            call("root", "dgaaccounts_approval_mode_update", **data)
        assert field in error.value.error_dict
        assert snapshot() == before

    def test_the_list_pages_organizations_with_their_modes(self, world):
        world.mode("delegated", "nso")
        listed = call("root", "dgaaccounts_approval_mode_list")
        assert listed["count"] == 2
        assert [(r["organization_name"], r["mode"]) for r in listed["results"]] == [
            ("dga", "central"), ("nso", "delegated")]
        only = call("root", "dgaaccounts_approval_mode_list", mode="delegated", q="ns")
        assert [r["organization_name"] for r in only["results"]] == ["nso"]
        page = call("root", "dgaaccounts_approval_mode_list", limit=1, offset=1)
        assert (page["count"], [r["organization_name"] for r in page["results"]]) == (2, ["nso"])


# -- delegated: the organization's admins decide ----------------------------------------------

class TestDelegated:
    def test_organization_admin_approves_into_their_organization_as_editor(self, world):
        world.mode("delegated")
        shown = call("dga_admin", "dgaaccounts_request_approve", id=world.request_id,
                     role="editor", note="รู้จักเป็นเจ้าหน้าที่ของเรา")
        assert shown["state"] == "approved"
        assert shown["decided_by"] == model.User.get("dga_admin").id
        assert model.User.get("somchai").state == "active"
        assert _role("dga", "somchai") == "editor"
        [event] = [e for e in shown["history"] if e["action"] == "approve"]
        assert event["details"]["by"] == "organization_admin"

    @pytest.mark.parametrize("decision", ["reject", "return"])
    def test_organization_admin_rejects_or_returns(self, world, decision):
        world.mode("delegated")
        shown = call("dga_admin", f"dgaaccounts_request_{decision}", id=world.request_id,
                     reason="ลายเซ็นผู้บังคับบัญชาไม่ครบ")
        assert shown["state"] == {"reject": "rejected", "return": "returned"}[decision]
        sent = {m.template for m in model.Session.query(OutboxMessage).filter(
            OutboxMessage.request_id == world.request_id)}
        assert {"reject": "rejected", "return": "returned"}[decision] in sent

    def test_only_sysadmins_grant_admin(self, world):
        world.mode("delegated")
        message = refused("dga_admin", "dgaaccounts_request_approve", id=world.request_id,
                          role="admin")
        assert "Only sysadmins" in message
        assert call("root", "dgaaccounts_request_approve", id=world.request_id,
                    role="admin")["state"] == "approved"
        assert _role("dga", "somchai") == "admin"

    def test_never_into_another_organization(self, world):
        world.mode("delegated")
        world.mode("delegated", "nso")
        refused("dga_admin", "dgaaccounts_request_approve", id=world.request_id,
                organization="nso")
        assert _state(world.request_id) == "submitted"

    @pytest.mark.parametrize("decision", ["approve", "reject", "return"])
    def test_the_admin_of_another_organization_cannot_decide(self, world, decision):
        world.mode("delegated")
        world.mode("delegated", "nso")
        refused("nso_admin", f"dgaaccounts_request_{decision}", id=world.request_id,
                reason="x")
        refused("officer", f"dgaaccounts_request_{decision}", id=world.request_id, reason="x")

    def test_sysadmins_can_always_decide(self, world):
        world.mode("delegated")
        shown = call("root", "dgaaccounts_request_reject", id=world.request_id, reason="ซ้ำ")
        assert shown["state"] == "rejected"
        [event] = [e for e in shown["history"] if e["action"] == "reject"]
        assert event["details"]["by"] == "sysadmin"

    def test_the_action_rechecks_under_lock_even_without_the_auth_function(self, world):
        # Central mode: a caller who got past the auth function (a page loaded before the mode
        # changed, a race) is still refused by the decision itself.
        before = snapshot()
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_request_approve",
                                context={"user": "dga_admin", "ignore_auth": True},
                                id=world.request_id, role="editor")
        world.mode("delegated")
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_request_approve",
                                context={"user": "dga_admin", "ignore_auth": True},
                                id=world.request_id, role="admin")
        assert snapshot()["members"] == before["members"]
        assert _state(world.request_id) == "submitted"

    def test_a_demoted_admin_loses_the_power_at_once(self, world):
        world.mode("delegated")
        helpers.call_action("organization_member_create", id="dga", username="dga_admin",
                            role="editor")
        refused("dga_admin", "dgaaccounts_request_approve", id=world.request_id)

    def test_the_organization_queue_lists_its_own_requests_only(self, world):
        world.mode("delegated")
        world.mode("delegated", "nso")
        other = submitted_registration("somsri", org="nso")
        listed = call("dga_admin", "dgaaccounts_request_list", organization="dga")
        assert [r["id"] for r in listed["results"]] == [world.request_id]
        assert call("nso_admin", "dgaaccounts_request_list", organization="nso")[
            "results"][0]["id"] == other
        refused("nso_admin", "dgaaccounts_request_list", organization="dga")
        refused("dga_admin", "dgaaccounts_request_list")  # the whole portal's queue
        refused("dga_admin", "dgaaccounts_request_show", id=other)
        assert call("dga_admin", "dgaaccounts_request_show", id=world.request_id)[
            "approval_mode"] == "delegated"


# -- cancellation and suspension -----------------------------------------------------------------

class TestAccountRequests:
    @staticmethod
    def ask(user: str, kind: str = "cancellation") -> str:
        req = call(user, "dgaaccounts_cancellation_request_create", kind=kind,
                   reason="ย้ายหน่วยงาน")
        call(user, "dgaaccounts_request_document_upload", id=req["id"],
             signed_form=Upload(PDF, "form.pdf"))
        return req["id"]

    def test_an_officers_request_belongs_to_their_organization(self, world):
        request_id = self.ask("officer", "suspension")
        assert model.Session.get(Request, request_id).organization_id == model.Group.get(
            "dga").id
        world.mode("delegated")
        assert call("dga_admin", "dgaaccounts_request_approve", id=request_id)[
            "state"] == "approved"
        assert model.User.get("officer").state == "pending"  # suspended

    def test_closing_an_organization_admins_account_stays_with_sysadmins(self, world):
        world.mode("delegated")
        request_id = self.ask("dga_admin2")
        message = refused("dga_admin", "dgaaccounts_request_approve", id=request_id)
        assert "sysadmins" in message
        refused("dga_admin2", "dgaaccounts_request_approve", id=request_id)  # their own
        assert call("root", "dgaaccounts_request_approve", id=request_id)["state"] == "approved"

    def test_closing_a_sysadmins_account_stays_with_sysadmins(self, world):
        factories.Sysadmin(name="root2", email="root2@dga.or.th")
        helpers.call_action("organization_member_create", id="dga", username="root2",
                            role="editor")
        world.mode("delegated")
        request_id = self.ask("root2")
        refused("dga_admin", "dgaaccounts_request_approve", id=request_id)

    def test_a_sysadmins_own_request_goes_to_the_other_sysadmins_only(self, world):
        factories.Sysadmin(name="root2", email="root2@dga.or.th")
        request_id = self.ask("root2", "suspension")
        sent = model.Session.query(OutboxMessage.recipient, OutboxMessage.template).filter(
            OutboxMessage.request_id == request_id).all()
        assert ("root@dga.or.th", "new_request") in sent
        assert {t for r, t in sent if r == "root2@dga.or.th"} == {
            "account_request_received", "submitted"}, sent
        refused("root2", "dgaaccounts_request_approve", id=request_id)
        # and a sysadmin never withdraws (nor uploads for) someone else's request
        officer = self.ask("officer")
        refused("root", "dgaaccounts_request_withdraw", id=officer)
        shown = call("root", "dgaaccounts_request_show", id=officer)
        assert "withdraw" not in shown["allowed_events"]
        assert "upload_document" not in shown["allowed_events"]

    def test_an_officer_promoted_while_the_request_waits_is_rechecked(self, world):
        world.mode("delegated")
        request_id = self.ask("officer")
        helpers.call_action("organization_member_create", id="dga", username="officer",
                            role="admin")
        refused("dga_admin", "dgaaccounts_request_approve", id=request_id)

    @pytest.mark.parametrize("move", ["to_another", "also_another", "out"])
    def test_an_officer_who_left_the_organization_meanwhile_is_the_sysadmins(self, world,
                                                                              move):
        world.mode("delegated")
        world.mode("delegated", "nso")
        request_id = self.ask("officer")
        if move != "out":
            helpers.call_action("organization_member_create", id="nso", username="officer",
                                role="member")
        if move != "also_another":
            helpers.call_action("organization_member_delete", context={"user": "root"},
                                id="dga", username="officer")
        for admin in ("dga_admin", "nso_admin"):
            message = refused(admin, "dgaaccounts_request_approve", id=request_id)
            assert "organizations have changed" in message or "Only the admins" in message
            with pytest.raises(tk.NotAuthorized):
                call(admin, "dgaaccounts_request_show", id=request_id)
        shown = call("root", "dgaaccounts_request_show", id=request_id)
        assert "approve" in shown["allowed_events"]
        assert call("root", "dgaaccounts_request_approve", id=request_id)["state"] == "approved"
        # decided: it stays in the history of the organization it was asked in
        assert approval.may_view(model.User.get("dga_admin"),
                                 model.Session.get(Request, request_id))


# -- endorse: the organization's admins answer first ------------------------------------------

class TestEndorse:
    def test_admin_endorses_then_a_sysadmin_decides(self, world):
        world.mode("endorse")
        refused("dga_admin", "dgaaccounts_request_approve", id=world.request_id)
        shown = call("dga_admin", "dgaaccounts_request_endorse", id=world.request_id,
                     note="เป็นเจ้าหน้าที่จริง")
        assert (shown["state"], shown["endorsement"], shown["endorsement_note"]) == (
            "submitted", "endorsed", "เป็นเจ้าหน้าที่จริง")
        assert shown["endorsed_by"] == model.User.get("dga_admin").id
        told = {(m.template, m.recipient) for m in model.Session.query(OutboxMessage).filter(
            OutboxMessage.request_id == world.request_id, OutboxMessage.template == "endorsed")}
        assert told == {("endorsed", "root@dga.or.th")}
        with pytest.raises(tk.ValidationError):  # once per submission
            call("dga_admin2", "dgaaccounts_request_decline", id=world.request_id, reason="x")
        assert call("root", "dgaaccounts_request_approve", id=world.request_id)[
            "state"] == "approved"

    def test_decline_needs_a_reason(self, world):
        world.mode("endorse")
        before = snapshot()
        with pytest.raises(tk.ValidationError) as error:
            call("dga_admin", "dgaaccounts_request_decline", id=world.request_id, reason="")
        assert "reason" in error.value.error_dict
        assert snapshot() == before
        shown = call("dga_admin", "dgaaccounts_request_decline", id=world.request_id,
                     reason="ไม่ใช่เจ้าหน้าที่ของเรา")
        assert shown["endorsement"] == "declined"

    def test_the_endorsement_is_the_agencys_not_the_sysadmins(self, world):
        world.mode("endorse")
        message = refused("root", "dgaaccounts_request_endorse", id=world.request_id)
        assert "admins of the request's organization" in message
        refused("nso_admin", "dgaaccounts_request_endorse", id=world.request_id)

    @pytest.mark.parametrize("mode", ["central", "delegated"])
    def test_no_endorsement_outside_the_endorse_mode(self, world, mode):
        world.mode(mode)
        refused("dga_admin", "dgaaccounts_request_endorse", id=world.request_id)

    def test_unknown_request_is_not_found_for_a_sysadmin(self, world):
        with pytest.raises(tk.ObjectNotFound):
            call("root", "dgaaccounts_request_endorse", id="no-such-request")
