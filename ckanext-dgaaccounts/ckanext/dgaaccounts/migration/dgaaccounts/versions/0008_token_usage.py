"""Developer API keys: rate tiers, the tier of each user, daily usage per token.

Revision ID: 0008_token_usage
Revises: 0004_queue_indexes
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008_token_usage"
down_revision = "0007_identity_links"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dgaaccounts_token_tier",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("hourly_limit", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.CheckConstraint("hourly_limit > 0", name="dgaaccounts_token_tier_limit_positive"),
    )
    op.create_table(
        "dgaaccounts_user_tier",
        sa.Column("user_id", sa.Text, sa.ForeignKey("user.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tier", sa.Text, sa.ForeignKey("dgaaccounts_token_tier.name"), nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.Text),
    )
    op.create_table(
        "dgaaccounts_token_usage",
        sa.Column("token_id", sa.Text, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("token_name", sa.Text, nullable=False, server_default=""),
        sa.Column("calls", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("errors", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("actions", JSONB, nullable=False, server_default="{}"),
        sa.Column("last_used", sa.DateTime),
    )
    op.create_index("dgaaccounts_token_usage_user_day_idx", "dgaaccounts_token_usage",
                    ["user_id", "day"])
    op.create_index("dgaaccounts_token_usage_day_idx", "dgaaccounts_token_usage", ["day"])


def downgrade():
    op.drop_table("dgaaccounts_token_usage")
    op.drop_table("dgaaccounts_user_tier")
    op.drop_table("dgaaccounts_token_tier")
