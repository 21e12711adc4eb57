"""The approval mode of each organization (approval.py): stored, defaulted, read in bulk."""
from __future__ import annotations

import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import approval
from ckanext.dgaaccounts.model import ApprovalMode

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins"),
]


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
