"""Identity links: a CKAN account linked to a government identity provider (ThaID, DGA Digital
ID) by issuer + ``sub``. The citizen id is never stored: only ``pid_hmac``, a keyed hash
(HMAC-SHA256 with ``ckanext.dgaaccounts.identity_hmac_secret``) that recognises one person
across providers.

Revision ID: 0007_identity_links
Revises: 0004_queue_indexes
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_identity_links"
down_revision = "0006_signatures"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dgaaccounts_identity_link",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, sa.ForeignKey("user.id"), nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("sub", sa.Text, nullable=False),
        sa.Column("pid_hmac", sa.Text),
        sa.Column("linked", sa.DateTime, nullable=False),
        sa.Column("linked_by", sa.Text),
        sa.Column("last_used", sa.DateTime),
        sa.UniqueConstraint("issuer", "sub", name="dgaaccounts_identity_link_issuer_sub_key"),
        sa.UniqueConstraint("user_id", "issuer", name="dgaaccounts_identity_link_user_issuer_key"),
    )
    op.create_index("dgaaccounts_identity_link_user_idx", "dgaaccounts_identity_link", ["user_id"])
    op.create_index("dgaaccounts_identity_link_pid_idx", "dgaaccounts_identity_link", ["pid_hmac"])


def downgrade():
    op.drop_table("dgaaccounts_identity_link")
