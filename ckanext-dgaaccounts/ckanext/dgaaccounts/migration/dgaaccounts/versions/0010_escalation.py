"""Escalation of requests left without a decision: one row per request and service clock.

Revision ID: 0010_escalation
Revises: 0009_approval_modes
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_escalation"
down_revision = "0009_approval_modes"
branch_labels = None
depends_on = None


def upgrade():
    # The primary key (request, clock start) makes escalation happen once per submission, even
    # when two runs race: the second INSERT finds the row and does nothing.
    op.create_table(
        "dgaaccounts_escalation",
        sa.Column("request_id", sa.Text,
                  sa.ForeignKey("dgaaccounts_request.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("clock_start", sa.DateTime, primary_key=True),
        sa.Column("threshold", sa.DateTime, nullable=False),
        sa.Column("escalated", sa.DateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("organization_id", sa.Text),
    )
    op.create_index("dgaaccounts_escalation_escalated_idx", "dgaaccounts_escalation",
                    ["escalated"])
    op.create_index("dgaaccounts_escalation_org_idx", "dgaaccounts_escalation",
                    ["organization_id"])


def downgrade():
    op.drop_table("dgaaccounts_escalation")
