"""Indexes for the approval queue (dgaaccounts_request_list), measured by bench/run.sh.

Every filter and sort of the queue has an index, so that a page costs one page of results at
100,000 requests as at 1,000 (bench/RESULTS.md):

* the queue's order is ``due, created`` within the open requests, or within one state, or one
  kind: a B-tree per case, which the page walks in order and leaves after ``limit`` rows (the
  old ``(due, created)`` index made it step over every closed request due earlier);
* the search ``q`` (``ILIKE '%text%'`` on the reference, email, agency name, username and full
  name) uses trigram GIN indexes (PostgreSQL's ``pg_trgm``, a trusted extension that the
  database's owner may create). Where the extension cannot be created, the search stays
  correct but reads the requests in full; the upgrade says so and carries on.

The open states are written out: they must match ``workflow.OPEN_STATES``, which the queries
use, for PostgreSQL to use the partial indexes.

Revision ID: 0004_queue_indexes
Revises: 0003_report_indexes
Create Date: 2026-11-27
"""
import logging

import sqlalchemy as sa
from alembic import op

revision = "0004_queue_indexes"
down_revision = "0003_report_indexes"
branch_labels = None
depends_on = None

# The root logger: the logging configurations that CKAN and env.py load (fileConfig) disable
# every logger that they do not name.
log = logging.getLogger()

_OPEN = "state IN ('awaiting_verification', 'awaiting_document', 'submitted', 'returned')"

_TRIGRAM = (
    # (index, table, expression)
    ("dgaaccounts_request_reference_trgm_idx", "dgaaccounts_request", "reference"),
    ("dgaaccounts_request_email_trgm_idx", "dgaaccounts_request", "email"),
    ("dgaaccounts_request_agency_trgm_idx", "dgaaccounts_request",
     "(details ->> 'agency_name')"),
    # CKAN's user table: the queue searches applicants by username and full name.
    ("dgaaccounts_user_name_trgm_idx", '"user"', "name"),
    ("dgaaccounts_user_fullname_trgm_idx", '"user"', "fullname"),
)


def upgrade():
    op.create_index("dgaaccounts_request_open_due_idx", "dgaaccounts_request",
                    ["due", "created"], postgresql_where=sa.text(_OPEN))
    op.create_index("dgaaccounts_request_open_kind_due_idx", "dgaaccounts_request",
                    ["kind", "due", "created"], postgresql_where=sa.text(_OPEN))
    op.create_index("dgaaccounts_request_state_due_idx", "dgaaccounts_request",
                    ["state", "due", "created"])
    op.create_index("dgaaccounts_request_kind_state_due_idx", "dgaaccounts_request",
                    ["kind", "state", "due", "created"])
    if not _trigram_available():
        return
    for name, table, expression in _TRIGRAM:
        # IF NOT EXISTS: CKAN's test reset may empty CKAN's user table rather than drop it.
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table}"
                   f" USING gin ({expression} gin_trgm_ops)")


def downgrade():
    for name, _table, _expression in reversed(_TRIGRAM):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    # pg_trgm stays: something else may use it.
    for name in ("dgaaccounts_request_kind_state_due_idx", "dgaaccounts_request_state_due_idx",
                 "dgaaccounts_request_open_kind_due_idx", "dgaaccounts_request_open_due_idx"):
        op.drop_index(name, table_name="dgaaccounts_request")


def _trigram_available() -> bool:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar():
        return True
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning(
            "pg_trgm could not be created (%s): the approval queue's search will read every "
            "request. Ask the database administrator to run CREATE EXTENSION pg_trgm, then "
            "`ckan db downgrade -p dgaaccounts --version 0003_report_indexes` and "
            "`ckan db upgrade -p dgaaccounts`.", " ".join(str(exc.orig).split()))
        return False
    return True
