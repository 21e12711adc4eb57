"""Actions of the developer API keys: the lifetime cap on CKAN's ``api_token_create``, tiers,
renewal, "revoke all", usage, and the housekeeping that the CLI and the background job run.

Published through logic/action.py (see the end of that module): ``tk.blanket.actions`` takes a
module's ``__all__`` when it has one.
"""
from __future__ import annotations

import datetime
import re
from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import Context, DataDict, ErrorDict
from sqlalchemy import func

from .. import apitokens, apiusage, config, mail, workflow
from ..tokenmodel import TokenTier, TokenUsage, UserTier

__all__ = [
    "api_token_create",
    "dgaaccounts_token_tier_set", "dgaaccounts_token_tier_list", "dgaaccounts_token_tier_assign",
    "dgaaccounts_token_list", "dgaaccounts_token_show", "dgaaccounts_token_renew",
    "dgaaccounts_token_revoke_all", "dgaaccounts_token_usage", "dgaaccounts_token_usage_list",
    "dgaaccounts_token_reminders_send", "dgaaccounts_token_overlap_revoke",
    "dgaaccounts_token_usage_rollup", "dgaaccounts_token_usage_purge",
    "dgaaccounts_token_housekeeping",
]

_TIER_NAME = re.compile(r"^[a-z0-9_-]{1,50}$")
_RENEWING = "(renewing)"


# -- every token expires -----------------------------------------------------------------

@tk.chained_action
def api_token_create(up_func: Any, context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Create an API token (CKAN's action) that expires within the maximum lifetime.

    ``expires_in`` × ``unit`` (seconds) is cut to ``token_max_lifetime_days`` (sysadmins:
    ``token_max_lifetime_days_sysadmin``), and a token asked for without one gets the maximum.
    The owner is emailed (name, time, address, a link that revokes all their tokens).

    :param user: name or id of the owner
    :param name: the token's name (at most 200 characters)
    :param expires_in: optional, a positive whole number of ``unit``
    :param unit: optional, seconds per ``expires_in`` (default 1)
    :returns: ``token``, ``expires_at``, ``max_lifetime_days``, ``lifetime_capped`` and, when
        cut, ``lifetime_note``
    """
    owner = model.User.get(apitokens.required_text("user", data_dict.get("user")))
    if owner is None:
        raise tk.ObjectNotFound(tk._("No such user."))
    tk.check_access("api_token_create", context, data_dict)
    apitokens.check_name(data_dict.get("name"))
    requested = apitokens.requested_seconds(data_dict)
    seconds, capped = apitokens.cap(owner, requested)
    result: dict[str, Any] = up_func(context, {**data_dict, "expires_in": seconds, "unit": 1})
    claims = apitokens.decode(result["token"]) or {}
    token = model.ApiToken.get(claims.get("jti"))
    assert token is not None
    expires = apitokens.expires_at(token, claims)
    days = apitokens.max_lifetime(owner).days
    result.update(expires_at=expires.isoformat(), max_lifetime_days=days,
                  lifetime_capped=capped)
    if capped:
        result["lifetime_note"] = _capped_note(requested, days)
    _announce(context, owner, token, expires)
    return result


def _capped_note(requested: int | None, days: int) -> str:
    if requested is None:
        return tk._("No expiry was given: the token expires after the maximum of %(days)s "
                    "days.") % {"days": days}
    return tk._("The expiry asked for is longer than allowed: the token expires after the "
                "maximum of %(days)s days.") % {"days": days}


def _announce(context: Context, owner: model.User, token: model.ApiToken,
              expires: datetime.datetime) -> None:
    """Audit the new token and email its owner, in one transaction, then deliver."""
    address = workflow.client_addr()
    workflow.audit("api_token_create", _actor_id(context), target_user_id=owner.id, details={
        "token_id": token.id, "name": token.name[:apitokens.NAME_MAX],
        "expires": expires.isoformat()})
    # Every token, the developer sign-up token too: a leaked key is found by its owner.
    if owner.email:
        mail.queue(None, "token_created", owner.email,
                   recipient_name=owner.fullname or owner.name, locale=mail.user_locale(owner),
                   params={"token_name": token.name[:apitokens.NAME_MAX],
                           "created": _day(token.created_at),
                           "address": address or "", "expires": _day(expires),
                           "signup": bool(context.get("dgaaccounts_signup")),
                           # the signed link is made at delivery (mail.py): no usable
                           # secret rests in the outbox
                           "revoke_all_for": owner.id})
    model.Session.commit()
    mail.dispatch()


def _day(value: datetime.datetime) -> str:
    # ISO, naive UTC: the email shows it in the reader's language and zone (timefmt.py)
    return value.replace(microsecond=0).isoformat()


def _actor_id(context: Context) -> str | None:
    user = model.User.get(context.get("user") or "") if context.get("user") else None
    return user.id if user is not None else None


def _user(id_or_name: Any, field: str = "user") -> model.User:
    user = model.User.get(str(id_or_name)) if isinstance(id_or_name, str) and id_or_name else None
    if user is None:
        raise tk.ValidationError({field: [tk._("No such user.")]})
    return user


def _me_or(context: Context, data_dict: DataDict) -> model.User:
    wanted = data_dict.get("user") or context.get("user")
    return _user(wanted)


# -- tiers -------------------------------------------------------------------------------

def dgaaccounts_token_tier_set(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Create or change a rate tier (sysadmins). Takes effect on every process within a minute.

    :param name: lower-case letters, digits, ``-`` and ``_`` (``default`` is the tier of
        users without one)
    :param hourly_limit: API calls per hour per token, 1 to 10,000,000
    :param description: optional
    :returns: the tier
    """
    tk.check_access("dgaaccounts_token_tier_set", context, data_dict)
    name, limit = data_dict.get("name"), _positive_limit(data_dict.get("hourly_limit"))
    errors: ErrorDict = {}
    if not isinstance(name, str) or not _TIER_NAME.match(name):
        errors["name"] = [tk._("Use 1 to 50 lower-case letters, digits, - or _.")]
    if limit is None:
        errors["hourly_limit"] = [tk._("Must be a whole number from 1 to %(max)s.") % {
            "max": f"{apiusage.MAX_HOURLY_LIMIT:,}"}]
    description = data_dict.get("description") or ""
    if not isinstance(description, str) or len(description) > 500:
        errors["description"] = [tk._("At most 500 characters.")]
    if errors:
        raise tk.ValidationError(errors)
    tier = model.Session.get(TokenTier, name, with_for_update=True)
    before = tier.hourly_limit if tier else None
    if tier is None:
        tier = TokenTier(name=name)
        model.Session.add(tier)
    assert limit is not None  # refused above
    tier.hourly_limit, tier.description = limit, description
    tier.updated = apitokens.now()
    workflow.audit("token_tier_set", _actor_id(context), details={
        "tier": name, "hourly_limit": limit, "before": before})
    model.Session.commit()
    apiusage.forget_limits()
    return tier.as_dict()


def _positive_limit(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= apiusage.MAX_HOURLY_LIMIT else None


def dgaaccounts_token_tier_list(context: Context, data_dict: DataDict) -> list[dict[str, Any]]:
    """The rate tiers, with how many users each has (sysadmins).

    :returns: list of ``name``, ``hourly_limit``, ``description``, ``updated``, ``users``
    """
    tk.check_access("dgaaccounts_token_tier_list", context, data_dict)
    counts: dict[str, int] = {tier: n for tier, n in model.Session.query(
        UserTier.tier, func.count()).group_by(UserTier.tier)}
    tiers = [dict(t.as_dict(), users=counts.get(t.name, 0))
             for t in model.Session.query(TokenTier).order_by(TokenTier.hourly_limit)]
    if not any(t["name"] == apiusage.DEFAULT_TIER for t in tiers):
        tiers.insert(0, {"name": apiusage.DEFAULT_TIER, "description": "",
                         "hourly_limit": config.token_default_hourly_limit(), "updated": None,
                         "users": None})
    return tiers


def dgaaccounts_token_tier_assign(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Give a user a rate tier (sysadmins); an empty ``tier`` puts them back on the default.
    Takes effect on the user's next call, on every process.

    :param user: id or name
    :param tier: name of an existing tier, or empty
    :returns: ``user_id``, ``tier``, ``hourly_limit``
    """
    tk.check_access("dgaaccounts_token_tier_assign", context, data_dict)
    user = _user(data_dict.get("user"))
    tier_name = data_dict.get("tier") or ""
    if tier_name and (not isinstance(tier_name, str)
                      or model.Session.get(TokenTier, tier_name) is None):
        raise tk.ValidationError({"tier": [tk._("No such tier.")]})
    row = model.Session.get(UserTier, user.id, with_for_update=True)
    before = row.tier if row else None
    if not tier_name:
        if row is not None:
            model.Session.delete(row)
    elif row is None:
        model.Session.add(UserTier(user_id=user.id, tier=tier_name, updated=apitokens.now(),
                                   updated_by=_actor_id(context)))
    else:
        row.tier, row.updated, row.updated_by = tier_name, apitokens.now(), _actor_id(context)
    workflow.audit("token_tier_assign", _actor_id(context), target_user_id=user.id,
                   details={"tier": tier_name or apiusage.DEFAULT_TIER, "before": before})
    model.Session.commit()
    apiusage.forget_limits([user.id])
    return {"user_id": user.id, "tier": tier_name or apiusage.DEFAULT_TIER,
            "hourly_limit": apiusage.hourly_limit(user.id)}


# -- the tokens of a user ----------------------------------------------------------------

def dgaaccounts_token_list(context: Context, data_dict: DataDict) -> list[dict[str, Any]]:
    """The API tokens of a user (own, or any for sysadmins) with their expiry and last use.

    :param user: optional id or name (default: the caller)
    :returns: list of ``id``, ``name``, ``created_at``, ``last_access``, ``expires_at``,
        ``expired``, ``renewed_by``, ``revoke_after``
    """
    tk.check_access("dgaaccounts_token_list", context, data_dict)
    user = _me_or(context, data_dict)
    rows = model.Session.query(model.ApiToken).filter(
        model.ApiToken.user_id == user.id).order_by(model.ApiToken.created_at)
    return [apitokens.token_info(t) for t in rows]


def dgaaccounts_token_show(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """One of your API tokens (any user's for sysadmins), as ``dgaaccounts_token_list`` shows it.

    :param id: the token's id (``jti``)
    :returns: ``id``, ``name``, ``created_at``, ``last_access``, ``expires_at``, ``expired``,
        ``renewed_by``, ``revoke_after``
    """
    tk.check_access("dgaaccounts_token_show", context, data_dict)
    return apitokens.token_info(_own_token(data_dict.get("id"), _me(context)))


def _me(context: Context) -> model.User | None:
    return model.User.get(context.get("user") or "")


def _own_token(token_id: Any, me: model.User | None, *,
               for_update: bool = False) -> model.ApiToken:
    """The token ``token_id`` if it is ``me``'s (or ``me`` is a sysadmin): not found for an
    unknown or revoked token, not authorized for another user's."""
    token = None
    if isinstance(token_id, str) and 0 < len(token_id) <= 200:
        query = model.Session.query(model.ApiToken).filter(model.ApiToken.id == token_id)
        token = (query.with_for_update() if for_update else query).one_or_none()
    if token is None:
        model.Session.rollback()
        raise tk.ObjectNotFound(tk._("This API token does not exist or has been revoked."))
    if me is None or (token.user_id != me.id and not me.sysadmin):
        model.Session.rollback()
        raise tk.NotAuthorized(tk._("This API token is not yours."))
    return token


def dgaaccounts_token_renew(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Replace one of your tokens with a new one of the same name. The old one keeps working
    for ``token_renewal_overlap_days``, then the housekeeping job revokes it.

    :param id: the token's id (``jti``)
    :returns: ``token`` (shown once), ``id``, ``name``, ``expires_at``, ``old_token_revoke_after``
    """
    tk.check_access("dgaaccounts_token_renew", context, data_dict)
    me = _me(context)
    old = _lock_for_renewal(data_dict.get("id"), me)
    assert me is not None  # _lock_for_renewal refused an anonymous caller
    owner = old.owner
    assert owner is not None  # CKAN's tokens all have one
    old_id, name = old.id, old.name
    _set_extras(old, renewed_by=_RENEWING)
    model.Session.commit()
    try:
        new = tk.get_action("api_token_create")(
            {"user": owner.name, "ignore_auth": True}, {"user": owner.name, "name": name})
    except Exception:
        _set_extras(model.ApiToken.get(old_id), renewed_by=None)
        model.Session.commit()
        raise
    new_id = (apitokens.decode(new["token"]) or {}).get("jti")
    revoke_after = apitokens.now() + config.token_renewal_overlap()
    _set_extras(model.ApiToken.get(old_id), renewed_by=new_id,
                revoke_after=revoke_after.isoformat())
    _set_extras(model.ApiToken.get(new_id), renewed_from=old_id)
    workflow.audit("api_token_renew", me.id, target_user_id=owner.id, details={
        "token_id": old_id, "new_token_id": new_id, "revoke_after": revoke_after.isoformat()})
    model.Session.commit()
    return {"token": new["token"], "id": new_id, "name": name, "expires_at": new["expires_at"],
            "old_token_revoke_after": revoke_after.isoformat()}


def _lock_for_renewal(token_id: Any, me: model.User | None) -> model.ApiToken:
    token = _own_token(token_id, me, for_update=True)
    if ((token.plugin_extras or {}).get(apitokens.EXTRA) or {}).get("renewed_by"):
        model.Session.rollback()
        raise tk.ValidationError({"id": [tk._("This API token has already been renewed.")]})
    return token


def _set_extras(token: model.ApiToken | None, **values: Any) -> None:
    if token is None:
        return
    extras = dict((token.plugin_extras or {}).get(apitokens.EXTRA) or {})
    extras.update(values)
    token.set_extra(apitokens.EXTRA, extras)


def dgaaccounts_token_revoke_all(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Revoke every API token of a user: with the signed link from a "new token" email
    (anyone holding it; it works once), or signed in, for one's own account.

    :param user: id of the user
    :param signature: optional, from the link
    :returns: ``revoked`` (how many)
    """
    tk.check_access("dgaaccounts_token_revoke_all", context, data_dict)
    signature = data_dict.get("signature")
    invalid = tk.ValidationError({"signature": [
        tk._("This link is invalid or has already been used.")]})
    if signature:
        # A link names its user by id; an unknown one is an invalid link (no answer tells a
        # stranger whether an account exists).
        wanted = data_dict.get("user")
        user = model.Session.get(model.User, wanted) if isinstance(wanted, str) else None
        if user is None:
            raise invalid
    else:
        user = _user(data_dict.get("user") or context.get("user"))
    user = model.Session.query(model.User).filter(
        model.User.id == user.id).with_for_update().one()  # one revocation per link
    if signature and not apitokens.revoke_all_signature_ok(user, signature):
        model.Session.rollback()
        raise invalid
    revoked = model.Session.query(model.ApiToken).filter(
        model.ApiToken.user_id == user.id).delete(synchronize_session=False)
    apitokens.next_generation(user)
    workflow.audit("api_token_revoke_all", _actor_id(context), target_user_id=user.id,
                   details={"revoked": revoked, "via": "link" if signature else "signed_in"})
    model.Session.commit()
    return {"revoked": revoked}


# -- usage -------------------------------------------------------------------------------

def dgaaccounts_token_usage(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Your tokens and their use per day (today's figures are live).

    :param user: optional id or name (default: the caller; others' for sysadmins)
    :param days: how many days back, 1 to 400 (default 30)
    :returns: ``tokens`` (see ``dgaaccounts_token_list``) and ``days``: per token and day
        ``calls``, ``errors``, ``top_actions``, ``last_used``, newest first
    """
    tk.check_access("dgaaccounts_token_usage", context, data_dict)
    user = _me_or(context, data_dict)
    days = _days(data_dict.get("days"))
    return {"tokens": dgaaccounts_token_list(context, {"user": user.id}),
            "days": _usage_rows(days, user_ids=[user.id])}


def dgaaccounts_token_usage_list(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Everyone's token use per day (sysadmins), for the usage page and its CSV.

    :param user: optional id or name
    :param organization: optional id or name: the members of that organization
    :param days: 1 to 400 (default 30)
    :returns: ``days``: rows as in ``dgaaccounts_token_usage`` with ``user_name``
    """
    tk.check_access("dgaaccounts_token_usage_list", context, data_dict)
    user_ids = None
    if data_dict.get("user"):
        user_ids = [_user(data_dict["user"]).id]
    elif data_dict.get("organization"):
        org = model.Group.get(str(data_dict["organization"]))
        if org is None or not org.is_organization:
            raise tk.ValidationError({"organization": [tk._("No such organization.")]})
        # CKAN types Member.table_id Optional; the column is NOT NULL
        user_ids = [m.table_id for m in model.Session.query(model.Member).filter(  # type: ignore[misc]
            model.Member.group_id == org.id, model.Member.table_name == "user",
            model.Member.state == "active")]
    rows = _usage_rows(_days(data_dict.get("days")), user_ids=user_ids)
    names: dict[str, str] = {user_id: name for user_id, name in model.Session.query(
        model.User.id, model.User.name).filter(model.User.id.in_({r["user_id"] for r in rows}))}
    for row in rows:
        row["user_name"] = names.get(row["user_id"], "")
    return {"days": rows}


def _days(value: Any) -> int:
    if value in (None, ""):
        return 30
    try:
        days = int(str(value))
    except ValueError:
        days = 0
    if not 1 <= days <= 400:
        raise tk.ValidationError({"days": [tk._("Must be a whole number from 1 to 400.")]})
    return days


def _usage_rows(days: int, user_ids: list[str] | None) -> list[dict[str, Any]]:
    today = datetime.datetime.now(datetime.timezone.utc).date()
    query = model.Session.query(TokenUsage).filter(
        TokenUsage.day > today - datetime.timedelta(days=days))
    if user_ids is not None:
        query = query.filter(TokenUsage.user_id.in_(user_ids))
    rows = {(u.token_id, u.day): u for u in query}
    for live in apiusage.live_today(user_ids):
        rows[(live.token_id, live.day)] = live
    return [u.as_dict() for u in sorted(rows.values(), key=lambda u: (u.day, u.token_name),
                                        reverse=True)]


# -- housekeeping (CLI and background job) -----------------------------------------------

def dgaaccounts_token_reminders_send(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Email the owners of tokens expiring within ``token_reminder_days`` (each reminder once;
    a token found late gets one email, not three). Sysadmins.

    :returns: ``sent`` (how many reminders were queued)
    """
    tk.check_access("dgaaccounts_token_reminders_send", context, data_dict)
    now, sent = apitokens.now(), 0
    thresholds = config.token_reminder_days()
    for token in _live_tokens():
        extras = (token.plugin_extras or {}).get(apitokens.EXTRA) or {}
        expires = apitokens.expires_at(token)
        due = [d for d in thresholds
               if expires - datetime.timedelta(days=d) <= now < expires
               and d not in (extras.get("reminded") or [])]
        if not due or extras.get("renewed_by"):
            continue
        _remind(token, expires)
        _set_extras(token, reminded=sorted({*(extras.get("reminded") or []), *due}))
        workflow.audit("api_token_reminder", None, target_user_id=token.user_id,
                       details={"token_id": token.id, "days": min(due)})
        model.Session.commit()
        sent += 1
    if sent:
        mail.dispatch()
    return {"sent": sent}


def _live_tokens() -> list[model.ApiToken]:
    return model.Session.query(model.ApiToken).join(
        model.User, model.User.id == model.ApiToken.user_id).filter(
        model.User.state == "active").order_by(model.ApiToken.created_at).all()


def _remind(token: model.ApiToken, expires: datetime.datetime) -> None:
    owner = token.owner
    if owner is None or not owner.email:
        return
    locale = mail.user_locale(owner)
    mail.queue(None, "token_expiry", owner.email, recipient_name=owner.fullname or owner.name,
               locale=locale, params={
                   "token_name": token.name[:apitokens.NAME_MAX], "expires": _day(expires),
                   "last_used": _day(token.last_access) if token.last_access else "",
                   "renew_link": apitokens.renew_link(token, locale),
                   "overlap_days": config.token_renewal_overlap().days})


def dgaaccounts_token_overlap_revoke(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Revoke the renewed tokens whose overlap is over (sysadmins).

    :returns: ``revoked`` (how many)
    """
    tk.check_access("dgaaccounts_token_overlap_revoke", context, data_dict)
    now, revoked = apitokens.now(), 0
    for token in model.Session.query(model.ApiToken).all():
        after = ((token.plugin_extras or {}).get(apitokens.EXTRA) or {}).get("revoke_after")
        if not after or datetime.datetime.fromisoformat(after) > now:
            continue
        workflow.audit("api_token_overlap_revoke", None, target_user_id=token.user_id,
                       details={"token_id": token.id, "revoke_after": after})
        model.Session.delete(token)
        model.Session.commit()
        revoked += 1
    return {"revoked": revoked}


def dgaaccounts_token_usage_rollup(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Copy the token usage counted in Redis into PostgreSQL, one row per token and day
    (sysadmins). Repeating it changes nothing.

    :returns: ``rows`` written
    """
    tk.check_access("dgaaccounts_token_usage_rollup", context, data_dict)
    return {"rows": apiusage.rollup()}


def dgaaccounts_token_usage_purge(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Delete daily usage older than ``token_usage_retention_days`` (sysadmins).

    :returns: ``deleted``
    """
    tk.check_access("dgaaccounts_token_usage_purge", context, data_dict)
    deleted = apiusage.purge()
    if deleted:
        workflow.audit("token_usage_purge", _actor_id(context), details={"deleted": deleted})
        model.Session.commit()
    return {"deleted": deleted}


def dgaaccounts_token_housekeeping(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """All of the above, in order: reminders, overlap revocation, usage roll-up, retention
    (sysadmins; ``ckan dgaaccounts tokens housekeeping`` and its background job).

    :returns: the result of each, by name
    """
    tk.check_access("dgaaccounts_token_housekeeping", context, data_dict)
    result: dict[str, Any] = {}
    for name in ("dgaaccounts_token_reminders_send", "dgaaccounts_token_overlap_revoke",
                 "dgaaccounts_token_usage_rollup", "dgaaccounts_token_usage_purge"):
        result[name] = tk.get_action(name)(context.copy(), {})
    return result


def run_step_job(action: str = "dgaaccounts_token_housekeeping") -> dict[str, Any]:
    """The background job (and the CLI): one housekeeping action as the site user."""
    if action not in __all__:
        raise ValueError(action)
    site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    result: dict[str, Any] = tk.get_action(action)(
        {"user": site_user["name"], "ignore_auth": False}, {})
    return result
