"""`ckan dgaaccounts tokens ...`: housekeeping of developer API keys, for cron.

Every command calls the sysadmin actions as the site user (so the auth functions apply), or,
with ``--enqueue``, asks a background worker (``ckan jobs worker``) to run them.
"""
from __future__ import annotations

import json

import click

from ckan.plugins import toolkit as tk

__all__ = ["tokens"]

_STEPS = {
    "housekeeping": "dgaaccounts_token_housekeeping",
    "reminders": "dgaaccounts_token_reminders_send",
    "revoke-renewed": "dgaaccounts_token_overlap_revoke",
    "rollup": "dgaaccounts_token_usage_rollup",
    "purge-usage": "dgaaccounts_token_usage_purge",
}


@click.group(short_help="Developer API keys: reminders, renewals, usage roll-up, retention.")
def tokens() -> None:
    """Housekeeping of API tokens (run `housekeeping` daily, or `rollup` hourly too)."""


def _command(name: str, action: str) -> None:
    @tokens.command(name, help=f"Run {action} (sysadmin action) as the site user.")
    @click.option("--enqueue", is_flag=True, help="Leave it to a background worker.")
    def run(enqueue: bool) -> None:
        from .logic import token_action

        if enqueue:
            job = tk.enqueue_job(token_action.run_step_job, [action],
                                 title=f"dgaaccounts: {action}", rq_kwargs={"ttl": 3600})
            click.echo(f"queued: {job.id}")
            return
        click.echo(json.dumps(token_action.run_step_job(action), sort_keys=True))


for _name, _action in _STEPS.items():
    _command(_name, _action)
