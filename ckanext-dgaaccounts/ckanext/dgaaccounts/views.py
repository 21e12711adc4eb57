"""The extension's web pages, one module per audience; ``tk.blanket.blueprints`` registers the
blueprints listed here (in this order: the applicants' blueprint takes over /user/register
before CKAN's own).

- views_applicant: registration, verification, the request page, closing one's account, the
  "forgot password" takeover (blueprint ``dgaaccounts``);
- views_admin: the sysadmins' queue, decisions, report, audit log and exports
  (``dgaaccounts_admin``);
- views_org: the organization admins' queue and review page, the sysadmins' page of approval
  modes (``dgaaccounts_org``, and routes on ``dgaaccounts_admin``);
- views_oidc: the provider sign-in (``dgaaccounts_oidc``);
- views_tokens: developer API keys (``dgaaccounts_tokens``);
- views_decide: the confirmation pages that the notification emails link to, one per
  decision (``dgaaccounts_decide``).

What they share (context, CSRF check, error page, running an action) is in views_common;
every page refuses an address that carries unstorable characters (``refuse_unstorable``).
"""
from __future__ import annotations

from flask_wtf.csrf import CSRFError

from .views_admin import dgaaccounts_admin
from .views_applicant import dgaaccounts
from .views_common import csrf_refused, refuse_unstorable
from .views_decide import dgaaccounts_decide
from .views_oidc import dgaaccounts_oidc
from .views_org import dgaaccounts_org
from .views_tokens import dgaaccounts_tokens

__all__ = ["dgaaccounts", "dgaaccounts_admin", "dgaaccounts_decide", "dgaaccounts_oidc",
           "dgaaccounts_org", "dgaaccounts_tokens"]

for _blueprint in (dgaaccounts, dgaaccounts_admin, dgaaccounts_decide, dgaaccounts_oidc,
                   dgaaccounts_org, dgaaccounts_tokens):
    # First, before a blueprint's own checks (who is signed in, the CSRF token) read anything.
    _blueprint.before_request_funcs.setdefault(None, []).insert(0, refuse_unstorable)
    _blueprint.register_error_handler(CSRFError, csrf_refused)
