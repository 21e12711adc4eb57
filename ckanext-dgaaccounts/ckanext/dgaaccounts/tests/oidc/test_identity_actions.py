"""The identity link actions (``dgaaccounts_identity_link_list``, ``_link``, ``_unlink``):
who may call them, what they change and audit, and the same over HTTP with an API token.
The provider flow that feeds ``_link``, and the actions over HTTP, are in test_signin.py
(linking from the profile)."""
from __future__ import annotations

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import account, identity
from ckanext.dgaaccounts.identity import IdentityLink
from ckanext.dgaaccounts.tests.oidc.helpers import events

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "with_request_context", "clean_db"),
]
ISSUER = "https://connect.egov.go.th"


def _user(name: str) -> model.User:
    factories.User(name=name, email=f"{name}@dga.or.th")
    return model.User.by_name(name)


def _linked(name: str, sub: str = "") -> tuple[model.User, IdentityLink]:
    user = _user(name)
    row = identity.link(user, "digitalid", ISSUER, sub or f"sub-{name}", None, user.id)
    model.Session.commit()
    return user, row


def _as(name: str, **more) -> dict:
    return {"user": name, "ignore_auth": False, **more}


def _verified(sub: str = "sub-new") -> identity.Verified:
    return identity.Verified(provider="digitalid", issuer=ISSUER, sub=sub, pid_hmac="ab" * 32)


class TestList:
    def test_own_links_without_sub_or_citizen_id(self):
        user, row = _linked("somchai")
        [shown] = helpers.call_action("dgaaccounts_identity_link_list", context=_as("somchai"))
        assert shown["id"] == row.id
        assert shown["user_id"] == user.id
        assert shown["provider"] == "digitalid"
        assert "sub" not in shown
        assert "pid_hmac" not in shown

    def test_someone_elses_links_are_refused(self):
        _linked("somchai")
        _user("other")
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_identity_link_list", context=_as("other"),
                                user="somchai")

    def test_sysadmin_lists_anyones(self):
        _linked("somchai")
        admin = factories.Sysadmin()
        shown = helpers.call_action("dgaaccounts_identity_link_list",
                                    context=_as(admin["name"]), user="somchai")
        assert len(shown) == 1
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_identity_link_list",
                                context=_as(admin["name"]), user="nobody")

    def test_anonymous_is_refused(self):
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_identity_link_list", context=_as(""))


class TestLink:
    def test_links_the_verified_identity_and_audits(self):
        user = _user("somchai")
        shown = helpers.call_action("dgaaccounts_identity_link",
                                    context=_as("somchai", **{identity.CONTEXT_KEY: _verified()}))
        row = identity.find(ISSUER, "sub-new")
        assert (shown["id"], row.user_id, row.linked_by) == (row.id, user.id, user.id)
        [event] = events("identity_linked")
        assert (event.actor_id, event.target_user_id) == (user.id, user.id)

    def test_without_a_verified_identity_nothing_is_linked(self):
        """Over the API nothing can hand the action an identity: parameters are not one."""
        _user("somchai")
        with pytest.raises(tk.ValidationError) as error:
            helpers.call_action("dgaaccounts_identity_link", context=_as("somchai"),
                                provider="digitalid", issuer=ISSUER, sub="sub-new")
        assert "identity" in error.value.error_dict
        assert model.Session.query(IdentityLink).count() == 0
        assert events("identity_linked") == []

    def test_identity_of_another_account_is_refused(self):
        _linked("somchai", sub="sub-taken")
        _user("other")
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_identity_link", context=_as(
                "other", **{identity.CONTEXT_KEY: _verified("sub-taken")}))
        assert [r.sub for r in model.Session.query(IdentityLink)] == ["sub-taken"]

    def test_suspended_account_is_refused(self):
        user = _user("somchai")
        account.suspend(user)
        model.Session.commit()
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_identity_link", context=_as(
                "somchai", **{identity.CONTEXT_KEY: _verified()}))
        assert model.Session.query(IdentityLink).count() == 0

    def test_anonymous_is_refused(self):
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_identity_link",
                                context=_as("", **{identity.CONTEXT_KEY: _verified()}))


class TestUnlink:
    def test_own_link_is_removed_and_audited(self):
        user, row = _linked("somchai")
        link_id = row.id
        removed = helpers.call_action("dgaaccounts_identity_unlink", context=_as("somchai"),
                                      id=link_id)
        assert removed["id"] == link_id
        assert model.Session.query(IdentityLink).count() == 0
        [event] = events("identity_unlinked")
        assert (event.actor_id, event.target_user_id) == (user.id, user.id)
        assert event.details == {"provider": "digitalid", "issuer": ISSUER}

    def test_someone_elses_link_is_not_found_and_stays(self):
        _, row = _linked("somchai")
        _user("other")
        with pytest.raises(tk.ObjectNotFound):
            helpers.call_action("dgaaccounts_identity_unlink", context=_as("other"), id=row.id)
        assert model.Session.query(IdentityLink).count() == 1
        assert events("identity_unlinked") == []

    def test_sysadmin_unlinks_anyones_and_is_the_actor(self):
        user, row = _linked("somchai")
        admin = factories.Sysadmin()
        helpers.call_action("dgaaccounts_identity_unlink", context=_as(admin["name"]), id=row.id)
        [event] = events("identity_unlinked")
        assert (event.actor_id, event.target_user_id) == (admin["id"], user.id)

    @pytest.mark.parametrize("bad", ["", "no-such-link", 12345, ["x"]])
    def test_bad_id_is_a_clear_error(self, bad):
        _linked("somchai")
        with pytest.raises((tk.ValidationError, tk.ObjectNotFound)):
            helpers.call_action("dgaaccounts_identity_unlink", context=_as("somchai"), id=bad)
        assert model.Session.query(IdentityLink).count() == 1

    def test_anonymous_is_refused(self):
        _, row = _linked("somchai")
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_identity_unlink", context=_as(""), id=row.id)
        assert model.Session.query(IdentityLink).count() == 1

