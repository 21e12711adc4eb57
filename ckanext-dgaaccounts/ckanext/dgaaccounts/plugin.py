"""Wiring of the dgaaccounts plugin. The behaviour lives in logic/, workflow.py and the views_*
modules (listed in views.py)."""
from __future__ import annotations

from typing import Any

import ckan.plugins as p
from ckan.common import CKANConfig
from ckan.lib.plugins import DefaultTranslation
from ckan.plugins import toolkit as tk

from . import (
    account, apitokens, apitokens_plugin, apiusage, bodylimit, grants, headers, language, signin,
    tokens, views_oidc,
)
from .logic import inputs


@tk.blanket.actions(inputs.actions)  # logic.action's, refusing unstorable input
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
    p.implements(p.IMiddleware, inherit=True)
    p.implements(p.IApiToken, inherit=True)

    # IConfigurer
    def update_config(self, config_: CKANConfig) -> None:
        tk.add_template_directory(config_, "templates")
        tk.add_public_directory(config_, "public")  # dgaaccounts/*.css, *.js (templates/base.html)
        tokens.redact_request_logs()

    # IMiddleware
    def make_middleware(self, app: Any, config: Any) -> Any:
        # Refuses oversized bodies while they arrive, before Werkzeug spools them; sets the
        # headers of pages with a token in the URL and of private downloads.
        return headers.install(bodylimit.install(app))

    # ISignal
    def get_signal_subscriptions(self) -> dict[Any, Any]:
        # Flask-Login's signals, relayed by CKAN: every login_user and logout_user sends them.
        return {
            tk.signals.user_logged_in: [account.stamp_session, grants.forget_applicant_links],
            tk.signals.user_logged_out: [account.forget_remember, grants.forget_applicant_links],
        }

    # IAuthenticator
    def identify(self) -> Any:
        # API token refusals and per-key limits first: a refused token never loads its user,
        # and CKAN's loading of the user (on the first look at current_user) reads the claims
        # the guard checked instead of decoding the token again.
        refused = apiusage.guard()
        if refused is not None:
            return refused
        account.check_session()
        language.remember_sysadmin_locale()
        return None

    def login(self) -> Any:
        # A closed, pending or suspended account with the right password gets one message
        # that says what to do (and no "bad username or password" after it); CKAN's own login
        # decides everything else.
        return signin.explain_refused_login()

    # IApiToken: every token expires within the maximum lifetime (apitokens_plugin.py)
    def create_api_token_schema(self, schema: Any) -> Any:
        return apitokens_plugin.create_api_token_schema(schema)

    def postprocess_api_token(self, data: dict[str, Any], jti: str,
                              data_dict: dict[str, Any]) -> dict[str, Any]:
        return apitokens_plugin.postprocess_api_token(data, jti, data_dict)

    def decode_api_token(self, encoded: str, **kwargs: Any) -> Any:
        return apitokens.checked_claims(encoded)  # decoded and checked once per request

    def logout(self) -> Any:
        return views_oidc.logout_response()  # sign out at the identity provider too
