"""Response headers for pages that carry secrets: tokens in the URL, personal documents.

Two rules, for every response of the app (installed by the plugin's IMiddleware hook):

* A page whose URL carries a token (a path argument named like ``token``, or a ``token`` or
  ``key`` query parameter: the email verification link, the applicant's link, CKAN's password
  reset link ``/user/reset/<id>?key=...``, and any such link added later) answers with
  ``Referrer-Policy: no-referrer``, so the token never leaves in a ``Referer`` header (to a CDN,
  a linked site, an analytics script), and with ``Cache-Control: private, no-store``.
* Every response of the extension's own views is marked not cacheable for CKAN. CKAN's
  ``set_cache_control_headers_for_response`` runs after every view and, unless a template
  render marked the request ``__no_cache__``, ADDS ``public, max-age, must-revalidate`` to
  whatever the view set: a scan served with ``Cache-Control: private, no-store`` reached the
  client as ``private, no-store, public, max-age=0, must-revalidate``, and a shared cache may
  keep a ``public`` answer. Marked, CKAN only adds ``private``, which the views' own value
  already has, so exactly one ``Cache-Control`` reaches the client.

CKAN's after-request handler is registered before any plugin's and Flask runs after-request
handlers in reverse order, so ours runs first: it sets the marker CKAN then reads.
"""
from __future__ import annotations

from typing import Any

from flask import request

_TOKEN_QUERY_ARGS = frozenset({"token", "key"})
_EXTENSION_BLUEPRINTS = frozenset({"dgaaccounts", "dgaaccounts_admin"})
NO_STORE = "private, no-store"


def carries_token() -> bool:
    """Whether the current request's URL holds a secret (see the module doc)."""
    if any(name.lower() in _TOKEN_QUERY_ARGS for name in request.args):
        return True
    return any("token" in name.lower() or name.lower() == "key"
               for name in (request.view_args or {}))


def after_request(response: Any) -> Any:
    """Set the headers of the module doc on ``response``."""
    if request.blueprint in _EXTENSION_BLUEPRINTS:
        request.environ["__no_cache__"] = True
    if carries_token():
        request.environ["__no_cache__"] = True
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = NO_STORE
    return response


def install(app: Any) -> Any:
    app.after_request(after_request)
    return app
