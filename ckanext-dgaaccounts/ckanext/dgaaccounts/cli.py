"""`ckan dgaaccounts ...` commands for operators."""
from __future__ import annotations

import json
from typing import Any

import click

from ckan.plugins import toolkit as tk
from ckan.types import Context

from . import mail, workflow

__all__ = ["dgaaccounts"]


@click.group(short_help="Account workflows: requests, reports, reminders, outbox, retention.")
def dgaaccounts() -> None:
    """Operate the account workflows of ckanext-dgaaccounts."""


@dgaaccounts.group()
def outbox() -> None:
    """The email outbox."""


@outbox.command("show")
def outbox_show() -> None:
    """Count messages by state and list those not yet sent."""
    for state, count in sorted(mail.outbox_status().items()):
        click.echo(f"{state}: {count}")
    for msg in mail.undelivered():
        click.echo(
            f"#{msg.id} {msg.state} {msg.template} to {msg.recipient} "
            f"attempts={msg.attempts} next={msg.next_attempt:%Y-%m-%d %H:%M:%S} "
            f"{msg.last_error or ''}".rstrip()
        )


@outbox.command("flush")
def outbox_flush() -> None:
    """Deliver every message that is due now (for cron, or after an SMTP outage)."""
    sent = mail.deliver_due(limit=100000)
    click.echo(f"sent: {sent}")
    left = mail.outbox_status().get("pending", 0)
    if left:
        click.echo(f"still pending: {left}")


@outbox.command("retry-failed")
def outbox_retry_failed() -> None:
    """Put the messages that ran out of attempts back in the queue, and deliver what is due."""
    click.echo(f"queued again: {mail.retry_failed()}")
    click.echo(f"sent: {mail.deliver_due(limit=100000)}")


@dgaaccounts.command("expire")
def expire() -> None:
    """Expire registrations never confirmed in time and free their usernames and addresses."""
    result = _call("dgaaccounts_registrations_expire", _site_context(), {})
    click.echo(f"expired: {result['expired']}")


@dgaaccounts.command("scrub")
def scrub() -> None:
    """Erase personal details of accounts cancelled longer ago than the retention period."""
    result = _call("dgaaccounts_accounts_scrub", _site_context(), {})
    click.echo(f"scrubbed: {result['scrubbed']}")


# -- requests ------------------------------------------------------------------------------

def _site_context() -> Context:
    site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    return {"user": site_user["name"], "ignore_auth": True}


def _call(action: str, context: Context, data: dict[str, Any]) -> Any:
    """Run an action; its refusals become a one-line error and exit status 1."""
    try:
        return tk.get_action(action)(context, data)
    except tk.ValidationError as e:
        raise click.ClickException("; ".join(
            f"{k}: {' '.join(str(m) for m in v) if isinstance(v, list) else v}"
            for k, v in e.error_dict.items())) from e
    except tk.ObjectNotFound as e:
        raise click.ClickException(str(e.message or "not found")) from e
    except tk.NotAuthorized as e:
        raise click.ClickException(str(e.message or "not authorized")) from e


def _request_id(id_or_reference: str) -> str:
    from . import auditlog

    return auditlog.request_id(id_or_reference)


@dgaaccounts.group("requests")
def requests_group() -> None:
    """Account requests: list, show and decide (decisions go through the actions: audited and
    emailed as from the web pages)."""


@requests_group.command("list")
@click.option("--kind", type=click.Choice(workflow.KINDS), help="Only this kind.")
@click.option("--state", type=click.Choice(workflow.STATES),
              help="Only this state (default: every open request).")
@click.option("--overdue", is_flag=True, help="Only requests past their due time.")
@click.option("-q", "--search", "q", help="Text in the reference, name, email or agency.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def requests_list(kind: str | None, state: str | None, overdue: bool, q: str | None,
                  limit: int) -> None:
    """List requests, the one due first at the top."""
    data: dict[str, Any] = {"limit": limit}
    data.update({k: v for k, v in (("kind", kind), ("state", state), ("q", q)) if v})
    if overdue:
        data["overdue"] = True
    result = _call("dgaaccounts_request_list", _site_context(), data)
    for r in result["results"]:
        due = (r["due"] or "")[:16].replace("T", " ")
        flag = " OVERDUE" if r["overdue"] else ""
        click.echo(f"{r['reference']}  {r['kind']}  {r['state']}  {r['user_name']}  "
                   f"due={due or '-'}{flag}  {r['id']}")
    shown = len(result["results"])
    click.echo(f"{result['count']} requests" + (
        f" (first {shown} shown)" if shown < result["count"] else ""))


@requests_group.command("show")
@click.argument("request")
def requests_show(request: str) -> None:
    """Show one request (by id or reference): details, documents and history."""
    req = _call("dgaaccounts_request_show", _site_context(), {"id": _request_id(request)})
    for key in ("reference", "id", "kind", "state", "user_name", "user_fullname", "email",
                "created", "submitted", "due", "overdue", "decided", "decision_note"):
        if req.get(key) not in (None, ""):
            click.echo(f"{key}: {req[key]}")
    if req.get("organization"):
        click.echo(f"organization: {req['organization']['name']}")
    for key, value in sorted((req.get("details") or {}).items()):
        click.echo(f"details.{key}: {value}")
    for doc in req["documents"]:
        status = f"purged {doc['purged']}" if doc["purged"] else "kept"
        click.echo(f"document: {doc['id']} {doc['mimetype']} {doc['size']} bytes "
                   f"sha256={doc['sha256']} uploaded {doc['uploaded']} {status}")
    for event in req["history"]:
        click.echo(f"history: {event['created']} {event['action']} "
                   f"{event['from_state'] or '-'} -> {event['to_state'] or '-'}")


def _sysadmin_context(name: str) -> Context:
    """The named, active sysadmin as the actor: the actions check and audit them."""
    import ckan.model as model

    user = model.User.get(name)
    if user is None or user.state != "active" or not user.sysadmin:
        raise click.ClickException(f"{name} is not an active sysadmin")
    return {"user": user.name, "ignore_auth": False}


def _as_option(f: Any) -> Any:
    return click.option("--as", "as_user", required=True, metavar="SYSADMIN",
                        help="Username of the sysadmin who decides (recorded as the actor).")(f)


@requests_group.command("approve")
@click.argument("request")
@_as_option
@click.option("--note", help="A note for the record.")
@click.option("--organization", help="Agency registrations: the organization (id or name).")
@click.option("--role", type=click.Choice(("member", "editor", "admin")),
              help="Agency registrations: the role (default: the configured default role).")
def requests_approve(request: str, as_user: str, note: str | None, organization: str | None,
                     role: str | None) -> None:
    """Approve a submitted request (by id or reference)."""
    data = {"id": _request_id(request)}
    data.update({k: v for k, v in (("note", note), ("organization", organization),
                                   ("role", role)) if v})
    result = _call("dgaaccounts_request_approve", _sysadmin_context(as_user), data)
    click.echo(f"{result['reference']}: {result['state']}")


def _decision_with_reason(action: str, doc: str) -> Any:
    @_as_option
    @click.option("--reason", required=True, help="Why (sent to the applicant).")
    @click.argument("request")
    def command(request: str, as_user: str, reason: str) -> None:
        result = _call(action, _sysadmin_context(as_user),
                       {"id": _request_id(request), "reason": reason})
        click.echo(f"{result['reference']}: {result['state']}")

    command.__doc__ = doc
    return command


requests_group.command("reject")(_decision_with_reason(
    "dgaaccounts_request_reject",
    "Reject a submitted request (by id or reference); the reason is sent to the applicant."))
requests_group.command("return")(_decision_with_reason(
    "dgaaccounts_request_return",
    "Return a submitted request (by id or reference) to the applicant for correction."))


# -- report, reminders, retention, exports -------------------------------------------------

@dgaaccounts.command("report")
@click.option("--since", metavar="YYYY-MM-DD", help="First day (default: 12 periods ago).")
@click.option("--until", metavar="YYYY-MM-DD", help="Last day, included (default: today).")
@click.option("--period", type=click.Choice(("week", "month")), default="week",
              show_default=True)
@click.option("--kind", type=click.Choice(workflow.KINDS), help="Only this kind.")
@click.option("--json", "as_json", is_flag=True, help="The action's result, as JSON.")
def report(since: str | None, until: str | None, period: str, kind: str | None,
           as_json: bool) -> None:
    """Service figures per kind: open, overdue, decided within target, median and 90th
    percentile time to decision, per week or month (as dgaaccounts_sla_report)."""
    data = {k: v for k, v in (("since", since), ("until", until), ("period", period),
                              ("kind", kind)) if v}
    result = _call("dgaaccounts_sla_report", _site_context(), data)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    click.echo(f"{result['since']} to {result['until']} per {result['period']} "
               f"({result['timezone']})")
    for k in result["kinds"]:
        click.echo(f"{k['kind']}: target={_duration(k['target_seconds'])} open={k['open']} "
                   f"awaiting_decision={k['awaiting_decision']} overdue={k['overdue']} "
                   f"decided={k['decided']} within_target={k['within_target']} "
                   f"({_share(k['within_target_share'])}) "
                   f"median={_duration(k['median_seconds'])} p90={_duration(k['p90_seconds'])}")
        for p in k["periods"]:
            if p["decided"]:
                click.echo(f"  {p['start']}: decided={p['decided']} "
                           f"within_target={p['within_target']} "
                           f"({_share(p['within_target_share'])}) "
                           f"median={_duration(p['median_seconds'])} "
                           f"p90={_duration(p['p90_seconds'])}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _share(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


@dgaaccounts.command("remind")
@click.option("--dry-run", is_flag=True, help="List what would be reminded; send nothing.")
def remind(dry_run: bool) -> None:
    """Email the sysadmins about requests due soon and overdue (for cron; once per request and
    threshold)."""
    result = _call("dgaaccounts_reminders_send", _site_context(), {"dry_run": dry_run})
    for label in ("overdue", "due_soon"):
        for item in result[label]:
            click.echo(f"{label}: {item['reference']} {item['kind']} due {item['due']}")
    verb = "would remind" if dry_run else "reminded"
    click.echo(f"{verb}: overdue={len(result['overdue'])} due_soon={len(result['due_soon'])} "
               f"emails={result['emails']}")


@dgaaccounts.command("escalate")
@click.option("--dry-run", is_flag=True, help="List what would be escalated; send nothing.")
def escalate(dry_run: bool) -> None:
    """Escalate to the sysadmins the requests left without a decision for too long (for cron,
    every minute; once per request and submission)."""
    site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    data = {"dry_run": True} if dry_run else {}
    result = _call("dgaaccounts_requests_escalate",
                   {"user": site_user["name"], "ignore_auth": False}, data)
    for item in result["escalated"]:
        click.echo(f"{item['reference']} {item['kind']} {item['reason']} "
                   f"threshold {item['threshold'][:19]}")
    click.echo(f"{'would escalate' if dry_run else 'escalated'}: {result['count']}")


@dgaaccounts.command("purge")
@click.option("--dry-run", is_flag=True, help="List the scans that would be deleted.")
def purge(dry_run: bool) -> None:
    """Delete the scans of requests closed longer ago than the retention period (their
    metadata and the audit trail stay)."""
    items = _call("dgaaccounts_documents_purge", _site_context(),
                  {"dry_run": dry_run})["documents"]
    for item in items:
        click.echo(f"{item['reference']} document {item['document_id']} {item['mimetype']} "
                   f"{item['size']} bytes, closed {item['closed'][:10]}")
    click.echo(f"{'would purge' if dry_run else 'purged'}: {len(items)}")


@dgaaccounts.group("export")
def export() -> None:
    """CSV exports (streamed: any number of rows in little memory)."""


def _write(export_: dict[str, Any], output: Any) -> None:
    for chunk in export_["chunks"]:
        output.write(chunk)


@export.command("requests")
@click.option("--since", help="From this day (YYYY-MM-DD) or time (ISO 8601, UTC).")
@click.option("--until", help="Up to this day or time, included.")
@click.option("--by", type=click.Choice(("created", "submitted", "decided")),
              default="created", show_default=True, help="Which date the range applies to.")
@click.option("--kind", type=click.Choice(workflow.KINDS), help="Only this kind.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="File to write (default: standard output).")
def export_requests(since: str | None, until: str | None, by: str, kind: str | None,
                    output: Any) -> None:
    """Requests as CSV."""
    params = {k: v for k, v in (("since", since), ("until", until), ("by", by),
                                ("kind", kind)) if v}
    _write(_export("dgaaccounts_requests_export", params), output)


@export.command("organizations")
@click.option("--since", metavar="YYYY-MM-DD", help="First day (default: twelve weeks ago).")
@click.option("--until", metavar="YYYY-MM-DD", help="Last day, included (default: today).")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="File to write (default: standard output).")
def export_organizations(since: str | None, until: str | None, output: Any) -> None:
    """The service report's figures per organization as CSV (decided, within target, time to
    first action and to decision, escalations)."""
    from . import exports

    params = {k: v for k, v in (("since", since), ("until", until)) if v}
    try:
        made = exports.organizations_csv(_site_context(), params)
    except tk.ValidationError as e:
        raise click.ClickException("; ".join(
            f"{k}: {' '.join(str(m) for m in (v if isinstance(v, list) else [v]))}"
            for k, v in e.error_dict.items())) from e
    _write({"chunks": made.chunks}, output)


@export.command("audit")
@click.option("--since", help="From this day (YYYY-MM-DD) or time (ISO 8601, UTC).")
@click.option("--until", help="Up to this day or time, included.")
@click.option("--request", "request_id", help="Events of one request (id or reference).")
@click.option("--user", "user_id", help="Events about one user.")
@click.option("--actor", help="Events caused by one user.")
@click.option("--action", help="One kind of event, e.g. approve.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="File to write (default: standard output).")
def export_audit(since: str | None, until: str | None, request_id: str | None,
                 user_id: str | None, actor: str | None, action: str | None,
                 output: Any) -> None:
    """The audit log as CSV."""
    params = {k: v for k, v in (("since", since), ("until", until), ("request_id", request_id),
                                ("user_id", user_id), ("actor", actor),
                                ("action", action)) if v}
    _write(_export("dgaaccounts_audit_export", params), output)


def _export(action: str, params: dict[str, Any]) -> Any:
    from .logic import housekeeping

    return _call(action, housekeeping.streaming(_site_context()), params)


# Developer API keys: `ckan dgaaccounts tokens ...` (cli_tokens.py).
from .cli_tokens import tokens as _tokens  # noqa: E402

dgaaccounts.add_command(_tokens)
