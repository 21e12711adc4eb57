"""At most one open cancellation or suspension request per user.

Revision ID: 0002_one_open_account_request
Revises: 0001_initial_tables
Create Date: 2026-11-27
"""
from alembic import op

revision = "0002_one_open_account_request"
down_revision = "0001_initial_tables"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "CREATE UNIQUE INDEX dgaaccounts_request_open_account_uq ON dgaaccounts_request (user_id)"
        " WHERE kind IN ('cancellation', 'suspension')"
        " AND state IN ('awaiting_verification', 'awaiting_document', 'submitted', 'returned')"
    )


def downgrade():
    op.drop_index("dgaaccounts_request_open_account_uq", table_name="dgaaccounts_request")
