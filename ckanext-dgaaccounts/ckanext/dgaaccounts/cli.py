"""`ckan dgaaccounts ...` commands for operators."""
from __future__ import annotations

import click

from . import mail

__all__ = ["dgaaccounts"]


@click.group(short_help="Account workflows: outbox and requests.")
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


@dgaaccounts.command("expire")
def expire() -> None:
    """Expire registrations never confirmed in time and free their usernames and addresses."""
    from . import maintenance

    click.echo(f"expired: {maintenance.expire_unverified()}")


@dgaaccounts.command("scrub")
def scrub() -> None:
    """Erase personal details of accounts cancelled longer ago than the retention period."""
    from . import maintenance

    click.echo(f"scrubbed: {maintenance.scrub_cancelled()}")
