"""What approving a cancellation or suspension does to a CKAN account, and the session epoch.

CKAN cannot revoke a cookie session (they are signed cookies) and revives old sessions and API
tokens when an account becomes active again. So each user carries an epoch, stamped into the
session at sign-in and checked on every request: bumping it signs out every existing session.
API tokens are deleted outright, and so is a password-reset key issued before. Everything here
joins the caller's transaction.

Every sign-in passes one gate, :func:`admit` (Flask-Login's ``user_logged_in`` signal, which
CKAN's login form, the developer's sign-in after verification and any sign-in plugin fire through
``login_user``). A session that carries a user but no epoch stamp was not made by the gate: it
was rebuilt from Flask-Login's "remember me" cookie (``user_id|HMAC``, the same at every sign-in
and never expired by the server). It is admitted only with the companion cookie that the gate
sets beside the remember cookie, signed and holding the epoch of that sign-in; otherwise it is
signed out and both cookies are cleared.
"""
from __future__ import annotations

import datetime
import secrets
from typing import Any

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func

import ckan.model as model
from ckan.common import current_user, session
from ckan.plugins import toolkit as tk

from . import mail
from .logic import schema

_SESSION_KEY = "dgaaccounts_epoch"
REMEMBER_COOKIE = "dgaaccounts_remember"
_REMEMBER_SALT = "dgaaccounts-remember-epoch"


def _extras(user: model.User) -> dict[str, Any]:
    return dict((user.plugin_extras or {}).get("dgaaccounts") or {})


def _set_extras(user: model.User, **values: Any) -> None:
    extras = dict(user.plugin_extras or {})
    ours = _extras(user)
    ours.update(values)
    extras["dgaaccounts"] = ours
    user.plugin_extras = extras  # a new dict, so that SQLAlchemy sees the change


def epoch(user: model.User) -> int:
    return int(_extras(user).get("epoch", 0))


def is_suspended(user: model.User) -> bool:
    return bool(_extras(user).get("suspended"))


def end_sessions_and_tokens(user: model.User) -> int:
    """Sign out every session and delete every API token. Returns how many tokens went."""
    _set_extras(user, epoch=epoch(user) + 1)
    # A reset link emailed before must not open the account later. (reset_key, about and
    # image_url are nullable columns that CKAN's model types as str.)
    user.reset_key = None  # type: ignore[assignment]
    # A bulk delete, not api_token_revoke: that action commits on its own, midway.
    return model.Session.query(model.ApiToken).filter(
        model.ApiToken.user_id == user.id).delete(synchronize_session=False)


def remove_memberships(user: model.User) -> int:
    members = model.Session.query(model.Member).filter(
        model.Member.table_name == "user", model.Member.table_id == user.id,
        model.Member.state == "active")
    count = 0
    for member in members:
        member.state = "deleted"
        count += 1
    return count


def memberships(user: model.User) -> list[tuple[str, str]]:
    """(organization title, role) of each organization the user belongs to."""
    rows = model.Session.query(model.Group.title, model.Group.name, model.Member.capacity).join(
        model.Member, model.Member.group_id == model.Group.id).filter(
        model.Member.table_name == "user", model.Member.table_id == user.id,
        model.Member.state == "active", model.Group.is_organization.is_(True),
        model.Group.state == "active")
    return [(title or name, role) for title, name, role in rows]


def cancel(user: model.User) -> dict[str, int]:
    """Delete the account the CKAN way (its datasets stay with their organizations)."""
    tokens = end_sessions_and_tokens(user)
    members = remove_memberships(user)
    user.state = "deleted"
    return {"api_tokens_revoked": tokens, "memberships_removed": members}


def suspend(user: model.User) -> dict[str, int]:
    """Block sign-in, sessions and tokens until a sysadmin reactivates the account.

    A non-active CKAN user cannot sign in and its requests are anonymous; "pending" (not
    "deleted") keeps the account and its memberships for the reactivation.
    """
    tokens = end_sessions_and_tokens(user)
    _set_extras(user, suspended=True)
    user.state = "pending"
    return {"api_tokens_revoked": tokens}


def reactivate(user: model.User) -> None:
    """Open a suspended account again. Old sessions and tokens stay invalid (new epoch)."""
    _set_extras(user, suspended=False, epoch=epoch(user) + 1)
    user.reset_key = None  # type: ignore[assignment]
    user.state = "active"


def is_last_active_sysadmin(user: model.User) -> bool:
    if not user.sysadmin:
        return False
    others = model.Session.query(model.User.id).filter(
        model.User.sysadmin.is_(True), model.User.state == "active", model.User.id != user.id,
        model.User.name != tk.config.get("ckan.site_id"),
    ).count()
    return others == 0


# -- the session epoch ---------------------------------------------------------------------

def admit(user: model.User | None) -> bool:
    """The gate of every sign-in: only an active, unsuspended account gets a session, stamped
    with the account's epoch (and, with "remember me", a companion cookie holding it)."""
    if user is None or user.state != "active" or is_suspended(user):
        _end_session()
        return False
    session[_SESSION_KEY] = epoch(user)
    if session.get("_remember") == "set":
        seconds = session.get("_remember_seconds") or _remember_duration().total_seconds()
        tk.g.dgaaccounts_remember = (user.id, epoch(user), int(seconds))
    return True


def stamp_session(sender: Any, **kwargs: Any) -> None:
    """At sign-in (CKAN's user_logged_in signal): pass the gate."""
    user = kwargs.get("user")
    admit(model.User.get(user.id) if user is not None else None)


def check_session() -> None:
    """On every request: a session from before the user's last epoch is signed out, and so is
    a session with no stamp (rebuilt from a remember cookie) unless its companion cookie holds
    the current epoch."""
    # current_user first: Flask-Login loads the user (and rebuilds a session from a remember
    # cookie) on first use.
    if not current_user.is_authenticated or "_user_id" not in session:
        return  # anonymous, or authenticated by an API token
    if tk.g.get("login_via_auth_header"):
        return  # the API token decided (Flask-Login asks for it only after the cookies)
    user = model.User.get(current_user.id)
    if user is None:
        return
    stamped = session.get(_SESSION_KEY)
    if stamped is None:
        stamped = _remembered_epoch(user)
        if stamped is not None and stamped == epoch(user) and user.state == "active":
            session[_SESSION_KEY] = stamped
            return
        _end_session()
    elif stamped != epoch(user):
        _end_session()


def _end_session() -> None:
    # logout_user also tells Flask-Login to clear its remember cookie.
    if "_user_id" in session:
        tk.logout_user()  # type: ignore[no-untyped-call]  # CKAN left it unannotated
    session.pop(_SESSION_KEY, None)
    tk.g.dgaaccounts_forget_remember = True


def _remember_duration() -> datetime.timedelta:
    duration = current_app.config.get("REMEMBER_COOKIE_DURATION") or datetime.timedelta(days=365)
    return datetime.timedelta(seconds=duration) if isinstance(duration, int) else duration


def _serializer() -> URLSafeTimedSerializer:
    key = current_app.secret_key
    assert key is not None  # CKAN sets SECRET_KEY at start
    return URLSafeTimedSerializer(key, salt=_REMEMBER_SALT)


def _remembered_epoch(user: model.User) -> int | None:
    value = request.cookies.get(REMEMBER_COOKIE)
    if not value:
        return None
    try:
        user_id, stamp = _serializer().loads(
            value, max_age=int(_remember_duration().total_seconds()))
    except (BadSignature, ValueError, TypeError):
        return None
    return stamp if user_id == user.id and isinstance(stamp, int) else None


def remember_cookie(response: Response) -> Response:
    """After each request: set or clear the companion of Flask-Login's remember cookie."""
    wanted = tk.g.get("dgaaccounts_remember")
    config = current_app.config
    if wanted:
        user_id, stamp, seconds = wanted
        response.set_cookie(
            REMEMBER_COOKIE, _serializer().dumps([user_id, stamp]), max_age=seconds,
            path=config.get("REMEMBER_COOKIE_PATH", "/"),
            domain=config.get("REMEMBER_COOKIE_DOMAIN"),
            secure=bool(config.get("REMEMBER_COOKIE_SECURE", False)), httponly=True,
            samesite=config.get("REMEMBER_COOKIE_SAMESITE") or "Lax")
    elif tk.g.get("dgaaccounts_forget_remember") and REMEMBER_COOKIE in request.cookies:
        response.delete_cookie(REMEMBER_COOKIE, path=config.get("REMEMBER_COOKIE_PATH", "/"),
                               domain=config.get("REMEMBER_COOKIE_DOMAIN"))
    return response


def forget_remember(sender: Any, **kwargs: Any) -> None:
    """At sign-out (CKAN's user_logged_out signal): the companion cookie goes too."""
    tk.g.dgaaccounts_forget_remember = True


def is_scrubbed(user: model.User) -> bool:
    return bool(_extras(user).get("scrubbed"))


def scrub(user: model.User) -> None:
    """Erase personal details; the row stays for CKAN's references and the audit trail."""
    user.fullname = None
    user.email = None
    user.about = None  # type: ignore[assignment]
    user.image_url = None  # type: ignore[assignment]
    user.password = secrets.token_urlsafe(32)  # a password nobody knows
    user.plugin_extras = {"dgaaccounts": {"scrubbed": True}}


def send_password_reset(wanted: str) -> None:
    """Queue CKAN's password-reset link for every active account that ``wanted`` (what the
    "forgot password" form was given) names: by email (every account with that address,
    compared exactly) or by login name. Nothing for anything else; the caller answers the
    same either way."""
    data, errors = tk.navl_validate({"user": wanted}, schema.password_reset(), {})
    if errors:
        return
    wanted = data["user"]
    query = model.Session.query(model.User).filter(
        model.User.state == "active", model.User.email != "")
    if "@" in wanted:
        query = query.filter(func.lower(model.User.email) == wanted.lower())
    else:
        query = query.filter(model.User.name == wanted)
    for user in query:
        assert user.email  # the query keeps accounts with an address
        mail.queue(None, "password_reset", user.email, recipient_name=user.fullname or user.name,
                   locale=mail.user_locale(user),
                   params={"user_id": user.id, "username": user.name})
        tk.signals.request_password_reset.send(user.name, user=user)
    model.Session.commit()
    mail.dispatch()
