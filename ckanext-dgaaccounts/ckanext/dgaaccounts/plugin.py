"""Wiring of the dgaaccounts plugin. The behaviour lives in logic/, workflow.py and views.py."""
from __future__ import annotations

from typing import Any

import ckan.plugins as p
from ckan.common import CKANConfig
from ckan.lib.plugins import DefaultTranslation
from ckan.plugins import toolkit as tk

from . import account, tokens, views, views_oidc


@tk.blanket.actions
@tk.blanket.auth_functions
@tk.blanket.validators
@tk.blanket.helpers
@tk.blanket.blueprints
@tk.blanket.cli
@tk.blanket.config_declarations
class DgaAccountsPlugin(p.SingletonPlugin, DefaultTranslation):
    p.implements(p.IConfigurer)
    p.implements(p.ITranslation)
    p.implements(p.IAuthenticator, inherit=True)
    p.implements(p.ISignal)

    # IConfigurer
    def update_config(self, config_: CKANConfig) -> None:
        tk.add_template_directory(config_, "templates")
        tokens.redact_request_logs()

    # ISignal
    def get_signal_subscriptions(self) -> dict[Any, Any]:
        return {tk.signals.user_logged_in: [account.stamp_session]}

    # IAuthenticator
    def identify(self) -> None:
        account.check_session()

    def authenticate(self, identity: dict[str, Any]) -> None:
        # Only explains a refused login; CKAN's own authentication decides.
        views.explain_pending_login(identity)

    def logout(self) -> Any:
        return views_oidc.logout_response()  # sign out at the identity provider too
