"""Indexes for the service report, the CSV exports and the retention sweep.

The report and the exports select requests by the day they were created, submitted or decided;
the reminders look up the events of a request by action.

Revision ID: 0003_report_indexes
Revises: 0002_one_open_account_request
Create Date: 2026-11-27
"""
from alembic import op

revision = "0003_report_indexes"
down_revision = "0002_one_open_account_request"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("dgaaccounts_request_created_idx", "dgaaccounts_request", ["created"])
    op.create_index("dgaaccounts_request_submitted_idx", "dgaaccounts_request", ["submitted"])
    op.create_index("dgaaccounts_request_decided_idx", "dgaaccounts_request", ["decided"])
    op.create_index("dgaaccounts_audit_request_action_idx", "dgaaccounts_audit",
                    ["request_id", "action"])


def downgrade():
    op.drop_index("dgaaccounts_audit_request_action_idx", table_name="dgaaccounts_audit")
    op.drop_index("dgaaccounts_request_decided_idx", table_name="dgaaccounts_request")
    op.drop_index("dgaaccounts_request_submitted_idx", table_name="dgaaccounts_request")
    op.drop_index("dgaaccounts_request_created_idx", table_name="dgaaccounts_request")
