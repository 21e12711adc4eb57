"""Approval delegated to agencies (approval.py): the approval mode of each organization, the
endorsement of a request by its organization's admins, and the index of an organization's queue.

``dgaaccounts_approval_mode``: one row per organization whose sysadmins chose a mode;
``dgaaccounts_request.endorsement`` (``endorsed`` or ``declined``), ``endorsed``,
``endorsed_by``, ``endorsement_note``: the agency's answer in the ``endorse`` mode, cleared when
the request is submitted again.

Revision ID: 0009_approval_modes
Revises: 0008_token_usage
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_approval_modes"
down_revision = "0008_token_usage"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dgaaccounts_approval_mode",
        sa.Column("organization_id", sa.Text,
                  sa.ForeignKey("group.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.Text, sa.ForeignKey("user.id")),
        sa.CheckConstraint("mode IN ('central', 'endorse', 'delegated')",
                           name="dgaaccounts_approval_mode_known"),
    )
    op.add_column("dgaaccounts_request", sa.Column("endorsement", sa.Text))
    op.add_column("dgaaccounts_request", sa.Column("endorsed", sa.DateTime))
    op.add_column("dgaaccounts_request",
                  sa.Column("endorsed_by", sa.Text, sa.ForeignKey("user.id")))
    op.add_column("dgaaccounts_request", sa.Column("endorsement_note", sa.Text))
    op.create_check_constraint(
        "dgaaccounts_request_endorsement_known", "dgaaccounts_request",
        "endorsement IS NULL OR endorsement IN ('endorsed', 'declined')")
    # An organization's queue: its requests, oldest due first (views_org.py).
    op.create_index("dgaaccounts_request_org_queue_idx", "dgaaccounts_request",
                    ["organization_id", "due", "created"])


def downgrade():
    op.drop_index("dgaaccounts_request_org_queue_idx", table_name="dgaaccounts_request")
    op.drop_constraint("dgaaccounts_request_endorsement_known", "dgaaccounts_request")
    for column in ("endorsement_note", "endorsed_by", "endorsed", "endorsement"):
        op.drop_column("dgaaccounts_request", column)
    op.drop_table("dgaaccounts_approval_mode")
