"""What ``dgaaccounts_request_show`` tells each caller they may do now (``allowed_events``), and
decisions that compose in a caller's transaction (``defer_commit``)."""
from __future__ import annotations

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import workflow
from ckanext.dgaaccounts.model import AuditEvent, OutboxMessage, Request
from ckanext.dgaaccounts.tests.conftest import PDF, Upload, registration

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]


def _allowed(request_id: str, user: str = "", token: str | None = None) -> list[str]:
    """``allowed_events`` as the caller sees them, with auth checked as for a web or API call."""
    data = {"id": request_id, **({"token": token} if token else {})}
    shown = helpers.call_action("dgaaccounts_request_show",
                                context={"user": user, "ignore_auth": False}, **data)
    return sorted(shown["allowed_events"])


def _verified(smtp, deliver) -> tuple[str, str]:
    """An agency registration awaiting its signed form: (request id, applicant token)."""
    result = helpers.call_action("dgaaccounts_agency_register", **registration())
    deliver()
    verified = helpers.call_action("dgaaccounts_email_verify",
                                   token=smtp.link("somchai@dga.or.th"))
    return result["request_id"], verified["applicant_token"]


def _upload(request_id: str, token: str) -> None:
    helpers.call_action("dgaaccounts_request_document_upload", id=request_id, token=token,
                        signed_form=Upload(PDF, "form.pdf"))


class TestAllowedEvents:
    def test_they_follow_the_state_and_the_caller(self, smtp, deliver):
        admin = factories.Sysadmin()
        stranger = factories.User()
        request_id, token = _verified(smtp, deliver)

        assert _allowed(request_id, token=token) == ["upload_document", "withdraw"]
        # Sysadmins decide; uploading and withdrawing are the applicant's alone.
        assert _allowed(request_id, admin["name"]) == []
        with pytest.raises(tk.NotAuthorized):
            _allowed(request_id, stranger["name"])

        _upload(request_id, token)
        assert _allowed(request_id, token=token) == ["withdraw"]
        assert _allowed(request_id, admin["name"]) == ["approve", "reject", "return"]

        helpers.call_action("dgaaccounts_request_return", context={"user": admin["name"]},
                            id=request_id, reason="Unreadable scan")
        assert _allowed(request_id, token=token) == ["upload_document", "withdraw"]

        helpers.call_action("dgaaccounts_request_withdraw", id=request_id, token=token)
        assert _allowed(request_id, token=token) == []
        assert _allowed(request_id, admin["name"]) == []

    def test_they_are_what_the_actions_then_accept(self, smtp, deliver):
        """Every event listed for the applicant is one its action accepts from them, and none of
        the decisions is."""
        request_id, token = _verified(smtp, deliver)
        _upload(request_id, token)
        assert _allowed(request_id, token=token) == ["withdraw"]
        anonymous = {"user": "", "ignore_auth": False}
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_request_approve", context=dict(anonymous),
                                id=request_id, token=token)
        helpers.call_action("dgaaccounts_request_withdraw", context=dict(anonymous),
                            id=request_id, token=token)
        assert model.Session.get(Request, request_id).state == workflow.WITHDRAWN

    def test_a_sysadmin_may_not_decide_their_own_request(self, make_upload):
        factories.Sysadmin(name="boss")
        other = factories.Sysadmin(name="deputy")
        mine = helpers.call_action("dgaaccounts_cancellation_request_create",
                                   context={"user": "boss"}, kind="suspension",
                                   reason="Long leave")
        assert mine["allowed_events"] == ["upload_document", "withdraw"]
        helpers.call_action("dgaaccounts_request_document_upload", context={"user": "boss"},
                            id=mine["id"], signed_form=make_upload(PDF, "form.pdf"))
        assert _allowed(mine["id"], "boss") == ["withdraw"]
        assert _allowed(mine["id"], other["name"]) == ["approve", "reject", "return"]
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_request_approve", context={"user": "boss"},
                                id=mine["id"])


class TestDeferCommit:
    def _submitted(self, smtp, deliver) -> str:
        request_id, token = _verified(smtp, deliver)
        _upload(request_id, token)
        return request_id

    def test_a_decision_leaves_the_commit_to_the_caller(self, smtp, deliver):
        request_id = self._submitted(smtp, deliver)
        admin = factories.Sysadmin()
        helpers.call_action("dgaaccounts_request_reject",
                            context={"user": admin["name"], "defer_commit": True},
                            id=request_id, reason="Not an agency address")
        # In the caller's transaction: the state, the audit event and the email.
        assert model.Session.get(Request, request_id).state == workflow.REJECTED
        model.Session.flush()  # CKAN's session does not flush before a query by itself
        assert model.Session.query(AuditEvent).filter(
            AuditEvent.request_id == request_id, AuditEvent.action == "reject").count() == 1
        assert model.Session.query(OutboxMessage).filter(
            OutboxMessage.request_id == request_id, OutboxMessage.template == "rejected").count()
        model.Session.rollback()  # the caller changes its mind: nothing of the decision stays
        model.Session.expire_all()
        assert model.Session.get(Request, request_id).state == workflow.SUBMITTED
        assert model.User.by_name("somchai").state == "pending"
        assert not model.Session.query(AuditEvent).filter(
            AuditEvent.request_id == request_id, AuditEvent.action == "reject").count()

    @pytest.mark.parametrize(("action", "params", "field"), [
        ("dgaaccounts_request_reject", {"reason": ""}, "reason"),  # a bad input
        ("dgaaccounts_request_approve", {}, "organization"),  # a decision the world refuses
        ("dgaaccounts_user_reactivate", {}, "id"),  # the account is not suspended
    ])
    def test_a_refusal_keeps_the_callers_transaction(self, smtp, deliver, action, params,
                                                     field):
        request_id = self._submitted(smtp, deliver)
        admin = factories.Sysadmin()
        target = ({"id": admin["name"]} if action == "dgaaccounts_user_reactivate"
                  else {"id": request_id})
        workflow.audit("caller_work", admin["id"])  # the caller's own, not yet committed
        with pytest.raises(tk.ValidationError) as error:
            helpers.call_action(action, context={"user": admin["name"], "defer_commit": True},
                                **target, **params)
        assert field in error.value.error_dict
        model.Session.commit()
        assert model.Session.query(AuditEvent).filter(
            AuditEvent.action == "caller_work").count() == 1
        assert model.Session.get(Request, request_id).state == workflow.SUBMITTED

    def test_without_defer_commit_a_refusal_rolls_back(self, smtp, deliver):
        request_id = self._submitted(smtp, deliver)
        admin = factories.Sysadmin()
        workflow.audit("caller_work", admin["id"])
        with pytest.raises(tk.ValidationError):
            helpers.call_action("dgaaccounts_request_reject", context={"user": admin["name"]},
                                id=request_id, reason="")
        model.Session.commit()
        assert not model.Session.query(AuditEvent).filter(
            AuditEvent.action == "caller_work").count()
