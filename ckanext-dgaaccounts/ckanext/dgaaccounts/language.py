"""The language each person reads: stored at sign-up on the request (``Request.locale``) and
for sysadmins, who never sign up through us, remembered from their last use of the site."""
from __future__ import annotations

from flask import request, session

import ckan.model as model
from ckan.common import current_user
from ckan.plugins import toolkit as tk

from . import mail


def remember_sysadmin_locale() -> None:
    """On each page a signed-in sysadmin opens, remember its language for the emails sent to
    it (``plugin_extras.dgaaccounts.locale``). Written only when it changes, so a page costs
    no write; API calls (token-authenticated, no page language) are left out."""
    if "_user_id" not in session or not current_user.is_authenticated:
        return
    if not _is_page_view():
        return
    if not getattr(current_user, "sysadmin", False):
        return
    try:
        lang = tk.h.lang()
    except (RuntimeError, AttributeError):
        return
    if lang not in mail.LOCALES:
        return
    user = model.User.get(current_user.id)
    if user is None:
        return
    extras = dict(user.plugin_extras or {})
    ours = dict(extras.get("dgaaccounts") or {})
    if ours.get("locale") == lang:
        return
    ours["locale"] = lang
    extras["dgaaccounts"] = ours
    user.plugin_extras = extras
    model.Session.commit()


def _is_page_view() -> bool:
    # Scripts, styles and API calls made by a page carry no locale prefix: they would read as
    # the default language and overwrite the one the person is reading in.
    endpoint = request.endpoint or ""
    if request.method != "GET" or not endpoint or endpoint == "static":
        return False
    return not endpoint.startswith(("api.", "webassets.", "static"))
