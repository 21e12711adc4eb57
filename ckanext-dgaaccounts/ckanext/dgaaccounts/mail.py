"""Email outbox: messages are queued in the caller's transaction and delivered by a background job.

A message row holds a template name and non-secret parameters. Link tokens are minted when the
message is delivered, in the delivery's own transaction, so no usable secret rests in the outbox.
CKAN 2.11's worker runs no RQ scheduler, so retries are kept here (attempts, next_attempt) and
picked up by :func:`deliver_due`, which the job, the next queued message and
``ckan dgaaccounts outbox flush`` all run.
"""
from __future__ import annotations

import datetime
import email.utils
import functools
import logging
import os
import smtplib
import unicodedata
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

import jinja2
from babel.support import Translations
from sqlalchemy import func

import ckan.model as model
from ckan.plugins import toolkit as tk

from . import config, timefmt, tokens
from .model import OutboxMessage, Request, utcnow

log = logging.getLogger(__name__)

HERE = os.path.dirname(__file__)
DOMAIN = "ckanext-dgaaccounts"
LOCALES = ("th", "en")
_MINT_FOR = {  # template -> token it carries
    "verify_agency": tokens.VERIFY,
    "verify_developer": tokens.VERIFY,
    "submitted": tokens.APPLICANT,
    "returned": tokens.APPLICANT,
    "verified_agency": tokens.APPLICANT,
    "account_request_received": tokens.APPLICANT,
    "password_reset": tokens.RESET,
}
GONE = "the account is no longer active"  # last_error of a message that will never be sent


def queue(
    req: Request | None,
    template: str,
    recipient: str,
    *,
    recipient_name: str = "",
    locale: str = "th",
    params: dict[str, Any] | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the current transaction."""
    msg = OutboxMessage(
        request_id=req.id if req is not None else None,
        recipient=recipient,
        recipient_name=recipient_name,
        locale=locale if locale in LOCALES else "th",
        template=template,
        params=params or {},
        mint=_MINT_FOR.get(template),
        state="pending",
        attempts=0,
        next_attempt=utcnow(),
    )
    model.Session.add(msg)
    return msg


def queue_to_applicant(req: Request, template: str, *, note: str | None = None) -> None:
    user = model.User.get(req.user_id)
    if user is None or not user.email:
        return
    queue(req, template, user.email, recipient_name=user.fullname or user.name,
          locale=req.locale, params={"note": note} if note else None)


def queue_to_sysadmins(req: Request, template: str,
                       params: dict[str, Any] | None = None) -> None:
    admins = model.Session.query(model.User).filter(
        model.User.sysadmin.is_(True), model.User.state == "active", model.User.email != "",
        model.User.id != req.user_id,  # a sysadmin's own request is decided by the others
    )
    for admin in admins:
        if admin.email:
            queue(req, template, admin.email, recipient_name=admin.fullname or admin.name,
                  locale=user_locale(admin), params=params)


def user_locale(user: model.User) -> str:
    extras = user.plugin_extras or {}
    locale: str = (extras.get("dgaaccounts") or {}).get("locale") or tk.config.get(
        "ckan.locale_default", "th")
    return locale


def dispatch() -> None:
    """Ask a background worker to deliver what is due. Call after the commit."""
    try:
        tk.enqueue_job(deliver_due, title="dgaaccounts: deliver outbox", rq_kwargs={"ttl": 3600})
    except Exception:  # Redis down: the messages stay in the outbox for the next sweep.
        log.warning("Could not enqueue outbox delivery; run `ckan dgaaccounts outbox flush`.")


# -- rendering -----------------------------------------------------------------------------

@functools.cache
def _environment(locale: str) -> jinja2.Environment:
    """One Jinja environment per locale, its translations installed once (thread-safe)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates", "dgaaccounts", "emails")),
        extensions=["jinja2.ext.i18n"],
        autoescape=False,  # plain-text mail; no markup is ever interpreted
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    translations = Translations.load(os.path.join(HERE, "i18n"), [locale], DOMAIN)
    # added by the jinja2.ext.i18n extension, which jinja2's types cannot show
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = functools.partial(_when, locale=locale)
    return env


def _when(value: Any, locale: str) -> str:
    return timefmt.format_datetime_lenient(value, locale)


def localized_root(site: str, locale: str) -> str:
    """The site's root in ``locale``: CKAN serves the default locale at ``/`` and the others
    under ``/<locale>/`` (as its ``url_for`` builds them), so a link opens in the reader's
    language."""
    default = tk.config.get("ckan.locale_default") or "en"
    return site if locale == default else f"{site}/{locale}"


def render(template: str, locale: str, context: dict[str, Any]) -> tuple[str, str]:
    """Render ``template`` in ``locale``: the first line is the subject, the rest the body."""
    text = _environment(locale).get_template(template + ".txt").render(**context)
    subject, _sep, body = text.lstrip().partition("\n")
    return subject.strip(), body.strip() + "\n"


def _context(msg: OutboxMessage, req: Request | None, secret: str | None) -> dict[str, Any]:
    # Every link in a message opens in the recipient's language.
    site = localized_root(tk.config["ckan.site_url"].rstrip("/"), msg.locale)
    ctx: dict[str, Any] = {
        "site_url": site,
        "site_title": tk.config.get("ckan.site_title") or "CKAN",
        "name": msg.recipient_name or msg.recipient,
        "params": dict(msg.params or {}),
        "request": None,
        "link": None,
        "expires": None,
        "approval": None,
        "decide": [],
    }
    owner_id = ctx["params"].pop("revoke_all_for", None)
    if owner_id:  # "revoke all my tokens": signed now, like every link token
        from . import apitokens

        owner = model.User.get(owner_id)
        if owner is not None:
            ctx["params"]["revoke_all_link"] = apitokens.revoke_all_link(owner, msg.locale)
    if req is not None:
        user = model.User.get(req.user_id)
        ctx["request"] = {
            "reference": req.reference, "kind": req.kind, "state": req.state,
            "username": user.name if user else "",
            "due": timefmt.format_datetime(req.due, msg.locale) if req.due else "",
            "admin_url": f"{site}/ckan-admin/dgaaccounts/request/{req.id}",
        }
        ctx["approval"] = _approval(req)
        ctx["decide"] = decide_links(msg.template, req, site)
    if secret and msg.mint == tokens.VERIFY:
        ctx["link"] = f"{site}/dgaaccounts/verify/{secret}"
        ctx["expires"] = timefmt.format_datetime(
            utcnow() + config.verification_lifetime(), msg.locale)
    elif secret and msg.mint == tokens.RESET:
        ctx["link"] = f"{site}/user/reset/{msg.params['user_id']}?key={secret}"
    elif secret and req is not None:
        ctx["link"] = f"{site}/dgaaccounts/request/{req.id}?token={secret}"
    return ctx


# The messages that ask their recipient for a decision, and as whom (approval.py): each links
# to a confirmation page per decision (views_decide.py), which needs a sign-in and asks again.
_DECIDE_AS = {"new_request": "sysadmin", "escalated": "sysadmin",
              "org_new_request": "organization_admin"}


def decide_links(template: str, req: Request, site: str) -> list[dict[str, str]]:
    """The decisions the recipient of ``template`` may take on ``req`` now, each as ``event``
    and ``url`` (on ``site``, the localized root). No secret in them: the page needs a
    signed-in approver and re-checks everything; the actions decide."""
    from . import approval, workflow  # workflow imports this module

    role = _DECIDE_AS.get(template)
    if role is None:
        return []
    return [{"event": event, "url": f"{site}/dgaaccounts/decide/{req.id}/{event}"}
            for event in workflow.allowed_events(req)
            if event in approval.DECISIONS + approval.ENDORSEMENTS
            and role in approval.decider_roles(req, event)]


def _approval(req: Request) -> dict[str, str] | None:
    """The organization (title) and role an approved officer was given."""
    if req.kind != "agency_registration" or not req.organization_id:
        return None
    row = model.Session.query(model.Group.title, model.Group.name, model.Member.capacity).join(
        model.Member, (model.Member.group_id == model.Group.id)
        & (model.Member.table_name == "user") & (model.Member.table_id == req.user_id)
        & (model.Member.state == "active"), isouter=True,
    ).filter(model.Group.id == req.organization_id).first()
    if row is None:
        return None
    return {"organization": row[0] or row[1], "role": row[2] or ""}


# -- delivery ------------------------------------------------------------------------------

def deliver_due(limit: int = 200) -> int:
    """Deliver the messages that are due, each in its own transaction. Returns how many went."""
    sent = 0
    for _ in range(limit):
        msg = (
            model.Session.query(OutboxMessage)
            .filter(OutboxMessage.state == "pending", OutboxMessage.next_attempt <= utcnow())
            .order_by(OutboxMessage.id)
            .with_for_update(skip_locked=True)
            .first()
        )
        if msg is None:
            model.Session.rollback()
            break
        sent += _deliver(msg)
    return sent


def _deliver(msg: OutboxMessage) -> int:
    req = model.Session.get(Request, msg.request_id) if msg.request_id else None
    secret = token_hash = None
    try:
        if msg.mint == tokens.RESET:
            secret = tokens.reset_key_committed(str((msg.params or {}).get("user_id")))
            if secret is None:  # closed since it was asked for: nothing to send, ever
                msg.state, msg.last_error = "failed", GONE
                model.Session.commit()
                return 0
        elif msg.mint and req is not None:
            # Committed before the email leaves: a quick recipient must find the link working.
            secret, token_hash = tokens.mint_committed(req, msg.mint)
        subject, body = render(msg.template, msg.locale, _context(msg, req, secret))
        _smtp_send(msg.recipient, msg.recipient_name, subject, body)
    except Exception as exc:  # noqa: BLE001 - any failure is retried later
        msg_id, attempts = msg.id, msg.attempts + 1
        model.Session.rollback()
        if token_hash:
            tokens.withdraw(token_hash)  # nobody got it
        _schedule_retry(msg_id, attempts, exc)
        return 0
    if token_hash and req is not None and msg.mint:  # a link was minted (above)
        tokens.retire_older(req, msg.mint, token_hash)
    msg.state, msg.sent, msg.attempts = "sent", utcnow(), msg.attempts + 1
    msg.last_error = None
    model.Session.commit()
    log.info("Sent outbox message %s (%s)", msg.id, msg.template)
    return 1


def _schedule_retry(msg_id: int, attempts: int, exc: Exception) -> None:
    msg = model.Session.get(OutboxMessage, msg_id, with_for_update=True)
    if msg is None or msg.state != "pending":  # another worker took it meanwhile
        model.Session.rollback()
        return
    delay = min(config.outbox_backoff() * 2 ** (attempts - 1), 86400)
    msg.attempts = attempts
    msg.next_attempt = utcnow() + datetime.timedelta(seconds=delay)
    msg.last_error = type(exc).__name__ + ": " + str(exc)[:200]
    if attempts >= config.outbox_max_attempts():
        msg.state = "failed"
    model.Session.commit()
    log.warning("Outbox message %s not delivered (attempt %s): %s", msg_id, attempts,
                type(exc).__name__)


def header_text(value: str | None, limit: int = 200) -> str:
    """``value`` fit for a mail header: every control and format character and every line or
    paragraph separator becomes a space, runs of spaces one space, at most ``limit`` characters.

    CKAN lets users set any full name (``user_update`` takes a line break); a header with one
    is refused by the mail library, and the user would never get their mail.
    """
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") else ch
        for ch in value or "")
    return " ".join(text.split())[:limit].strip()


def _recipient(to: str, to_name: str | None) -> Address:
    """The ``To`` address, its display name made safe (``email.headerregistry`` quotes and
    encodes it; no name if nothing is left of it)."""
    username, _sep, domain = to.strip().rpartition("@")
    return Address(display_name=header_text(to_name), username=username, domain=domain)


def _smtp_send(to: str, to_name: str | None, subject: str, body: str) -> None:
    server = tk.config.get("smtp.server") or "localhost"
    host, _sep, port = server.partition(":")
    message = EmailMessage()
    message["From"] = config.mail_from()
    message["To"] = _recipient(to, to_name)
    message["Subject"] = header_text(subject, 500)
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain="dgaaccounts")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    with smtplib.SMTP(host, int(port or 25), timeout=config.smtp_timeout()) as smtp:
        if tk.asbool(tk.config.get("smtp.starttls")):
            smtp.starttls()
        user = tk.config.get("smtp.user")
        if user:
            smtp.login(user, tk.config.get("smtp.password") or "")
        smtp.send_message(message)


def retry_failed() -> int:
    """Give the failed messages a fresh set of attempts (after an outage longer than the
    backoff). Returns how many."""
    count = model.Session.query(OutboxMessage).filter(
        OutboxMessage.state == "failed",
        OutboxMessage.last_error.is_distinct_from(GONE),
    ).update({"state": "pending", "attempts": 0, "next_attempt": utcnow()},
             synchronize_session=False)
    model.Session.commit()
    return count


def outbox_status() -> dict[str, int]:
    """How many messages are in each state."""
    rows = model.Session.query(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    return {state: count for state, count in rows}


def undelivered() -> list[OutboxMessage]:
    """Messages not sent yet, oldest first (for the CLI)."""
    return (
        model.Session.query(OutboxMessage)
        .filter(OutboxMessage.state.in_(("pending", "failed")))
        .order_by(OutboxMessage.id)
        .all()
    )
