"""The approval mode of each organization (approval.py): stored, defaulted, read in bulk."""
from __future__ import annotations

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import approval
from ckanext.dgaaccounts.model import ApprovalMode, Request

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins"),
]


def _allowed(user: model.User, req: Request) -> list[str]:
    """The events request_show offers ``user`` on ``req`` (what their review page shows)."""
    return helpers.call_action("dgaaccounts_request_show",
                               context={"user": user.name, "ignore_auth": False},
                               id=req.id)["allowed_events"]


@pytest.fixture
def orgs(clean_db):
    return factories.Organization(name="dga"), factories.Organization(name="nso")


class TestModeFor:
    def test_an_organization_without_a_mode_follows_the_central_default(self, orgs):
        assert approval.mode_for(orgs[0]["id"]) == "central"

    @pytest.mark.ckan_config("ckanext.dgaaccounts.approval_mode_default", "delegated")
    def test_the_portal_default_applies_to_organizations_without_a_mode(self, orgs):
        assert approval.mode_for(orgs[0]["id"]) == "delegated"

    @pytest.mark.ckan_config("ckanext.dgaaccounts.approval_mode_default", "delegated")
    def test_a_request_without_an_organization_is_decided_centrally(self, orgs):
        assert approval.mode_for(None) == "central"
        assert approval.mode_for("") == "central"

    def test_a_stored_mode_wins_over_the_default_and_is_kept_per_organization(self, orgs):
        dga, nso = orgs
        sysadmin = factories.Sysadmin()
        assert approval.set_mode(dga["id"], "endorse", sysadmin["id"]) == "central"
        model.Session.commit()
        assert approval.mode_for(dga["id"]) == "endorse"
        assert approval.mode_for(nso["id"]) == "central"
        row = model.Session.get(ApprovalMode, dga["id"])
        assert row.updated_by == sysadmin["id"]
        assert approval.set_mode(dga["id"], "delegated", sysadmin["id"]) == "endorse"
        model.Session.commit()
        assert approval.modes_for([dga["id"], nso["id"]]) == {
            dga["id"]: "delegated", nso["id"]: "central"}

    @pytest.mark.ckan_config("ckanext.dgaaccounts.approval_mode_default", "endorse")
    def test_none_returns_an_organization_to_the_portal_default(self, orgs):
        dga = orgs[0]
        approval.set_mode(dga["id"], "central", None)
        model.Session.commit()
        assert approval.mode_for(dga["id"]) == "central"
        assert approval.stored_mode(dga["id"]) == "central"
        approval.set_mode(dga["id"], None, None)
        model.Session.commit()
        assert approval.stored_mode(dga["id"]) is None
        assert approval.mode_for(dga["id"]) == "endorse"

    def test_the_mode_goes_with_its_purged_organization(self, orgs):
        dga = orgs[0]
        approval.set_mode(dga["id"], "delegated", None)
        model.Session.commit()
        helpers.call_action("organization_purge", id=dga["id"])
        assert model.Session.query(ApprovalMode).count() == 0


# -- who decides: decider_roles, can_decide, deciders -----------------------------------------

class People:
    """Two organizations, their admins, an editor, a sysadmin and requests for DGA."""

    def __init__(self) -> None:
        self.sysadmin = model.User.get(factories.Sysadmin(name="root")["id"])
        names = ("dga_admin", "dga_admin2", "nso_admin", "officer", "applicant")
        for name in names:
            setattr(self, name, model.User.get(factories.User(name=name)["id"]))
        self.dga = factories.Organization(name="dga", users=[
            {"name": "dga_admin", "capacity": "admin"}, {"name": "dga_admin2", "capacity": "admin"},
            {"name": "officer", "capacity": "editor"}])
        self.nso = factories.Organization(name="nso", users=[
            {"name": "nso_admin", "capacity": "admin"}])
        self.agency = self.request("agency_registration", self.applicant)
        self.cancel_officer = self.request("cancellation", self.officer)
        self.cancel_admin = self.request("cancellation", self.dga_admin2)

    def request(self, kind: str, user: model.User) -> Request:
        req = Request(reference=f"T-{kind}-{user.name}", kind=kind, state="submitted",
                      user_id=user.id, email=f"{user.name}@dga.or.th",
                      organization_id=self.dga["id"], details={}, locale="th")
        model.Session.add(req)
        model.Session.commit()
        return req


@pytest.fixture
def people(clean_db) -> People:
    return People()


def _mode(people: People, mode: str) -> None:
    approval.set_mode(people.dga["id"], mode, None)
    model.Session.commit()


@pytest.mark.parametrize(("mode", "decide", "endorse"), [
    ("central", ("sysadmin",), ()),
    ("endorse", ("sysadmin",), ("organization_admin",)),
    ("delegated", ("sysadmin", "organization_admin"), ()),
])
def test_who_may_fire_each_event_under_each_mode(people, mode, decide, endorse):
    _mode(people, mode)
    for event in ("approve", "reject", "return"):
        assert approval.decider_roles(people.agency, event) == decide
    for event in ("endorse", "decline"):
        assert approval.decider_roles(people.agency, event) == endorse
    assert approval.decider_roles(people.agency, "withdraw") == ()


@pytest.mark.parametrize("mode", ["central", "endorse", "delegated"])
def test_sysadmins_always_decide_and_never_endorse_for_the_agency(people, mode):
    _mode(people, mode)
    for event in ("approve", "reject", "return"):
        assert approval.can_decide(people.sysadmin, people.agency, event)
    for event in ("endorse", "decline"):
        assert not approval.can_decide(people.sysadmin, people.agency, event)


def test_delegated_admins_decide_for_their_own_organization_only(people):
    _mode(people, "delegated")
    for event in ("approve", "reject", "return"):
        assert approval.can_decide(people.dga_admin, people.agency, event)
        assert not approval.can_decide(people.nso_admin, people.agency, event)
        assert not approval.can_decide(people.officer, people.agency, event)  # an editor
    assert approval.deciders(people.agency, "approve") == [
        people.dga_admin, people.dga_admin2, people.sysadmin]


def test_an_organization_admin_grants_at_most_editor_into_their_organization(people):
    _mode(people, "delegated")
    admin, req = people.dga_admin, people.agency
    assert approval.can_decide(admin, req, "approve", {"role": "editor"})
    assert approval.can_decide(admin, req, "approve", {"role": "member"})
    assert approval.can_decide(admin, req, "approve", {"organization": "dga"})
    assert "Only sysadmins" in approval.refusal(admin, req, "approve", {"role": "admin"})
    assert "own organization" in approval.refusal(admin, req, "approve",
                                                  {"organization": "nso"})
    # The portal's default role counts when none is given.
    assert approval.can_decide(admin, req, "approve", {})


@pytest.mark.ckan_config("ckanext.dgaaccounts.default_role", "admin")
def test_a_default_role_of_admin_is_not_the_organization_admins_to_give(people):
    _mode(people, "delegated")
    assert not approval.can_decide(people.dga_admin, people.agency, "approve", {})
    assert approval.can_decide(people.sysadmin, people.agency, "approve", {})


def test_nobody_decides_their_own_request(people):
    _mode(people, "delegated")
    own = people.request("agency_registration", people.dga_admin)
    assert "own request" in approval.refusal(people.dga_admin, own, "approve")
    assert people.dga_admin not in approval.deciders(own, "approve")
    sysadmin_own = people.request("agency_registration", people.sysadmin)
    assert not approval.can_decide(people.sysadmin, sysadmin_own, "approve")


def test_closing_an_admins_or_a_sysadmins_account_stays_with_sysadmins(people):
    _mode(people, "delegated")
    assert approval.can_decide(people.dga_admin, people.cancel_officer, "approve")
    assert not approval.can_decide(people.dga_admin, people.cancel_admin, "approve")
    assert approval.can_decide(people.sysadmin, people.cancel_admin, "approve")
    member_sysadmin = model.User.get(factories.Sysadmin(name="root2")["id"])
    helpers.call_action("organization_member_create", id="dga", username="root2",
                        role="editor")
    closing = people.request("suspension", member_sysadmin)
    assert approval.reserved_for_sysadmins(closing)
    assert not approval.can_decide(people.dga_admin, closing, "approve")
    _mode(people, "endorse")
    assert not approval.can_decide(people.dga_admin, people.cancel_admin, "endorse")
    assert approval.can_decide(people.dga_admin, people.cancel_officer, "endorse")


def test_endorse_mode_admins_endorse_but_do_not_decide(people):
    _mode(people, "endorse")
    assert approval.can_decide(people.dga_admin, people.agency, "endorse")
    assert approval.can_decide(people.dga_admin, people.agency, "decline")
    assert not approval.can_decide(people.nso_admin, people.agency, "endorse")
    assert not approval.can_decide(people.dga_admin, people.agency, "approve")
    assert approval.deciders(people.agency, "endorse") == [people.dga_admin, people.dga_admin2]
    assert approval.deciders(people.agency, "approve") == [people.sysadmin]
    assert _allowed(people.dga_admin, people.agency) == ["endorse", "decline"]


def test_central_mode_gives_organization_admins_no_part(people):
    assert not approval.may_view(people.dga_admin, people.agency)
    assert not approval.may_list(people.dga_admin, people.dga["id"])
    with pytest.raises(tk.NotAuthorized):
        _allowed(people.dga_admin, people.agency)  # not even shown to them
    _mode(people, "delegated")
    assert approval.may_view(people.dga_admin, people.agency)
    assert approval.may_list(people.dga_admin, people.dga["id"])
    assert not approval.may_view(people.nso_admin, people.agency)
    assert not approval.may_list(people.nso_admin, people.dga["id"])


def test_a_former_or_blocked_admin_has_no_power(people):
    _mode(people, "delegated")
    helpers.call_action("organization_member_create", id="dga", username="dga_admin",
                        role="editor")
    assert not approval.can_decide(model.User.get("dga_admin"), people.agency, "approve")
    user = model.User.get("dga_admin2")
    user.state = "deleted"
    model.Session.commit()
    assert not approval.can_decide(user, people.agency, "approve")
    assert not approval.can_decide(None, people.agency, "approve")


def test_the_organization_of_an_account_request_is_the_one_its_user_belongs_to(people):
    assert approval.organization_for_account(people.officer) == people.dga["id"]
    assert approval.organization_for_account(people.applicant) is None
    helpers.call_action("organization_member_create", id="nso", username="officer",
                        role="member")
    assert approval.organization_for_account(people.officer) is None  # several: central
