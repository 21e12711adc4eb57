"""Initial tables: requests, documents, audit log, link tokens, email outbox.

Revision ID: 0001_initial_tables
Revises:
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_initial_tables"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # IF NOT EXISTS: CKAN's test reset drops the tables but not sequences or functions.
    op.execute("CREATE SEQUENCE IF NOT EXISTS dgaaccounts_reference_seq")
    op.create_table(
        "dgaaccounts_request",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("reference", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, sa.ForeignKey("user.id"), nullable=False, index=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("organization_id", sa.Text, sa.ForeignKey("group.id")),
        sa.Column("details", JSONB, nullable=False, server_default="{}"),
        sa.Column("locale", sa.Text, nullable=False, server_default="th"),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.Column("verified", sa.DateTime),
        sa.Column("submitted", sa.DateTime),
        sa.Column("due", sa.DateTime),
        sa.Column("decided", sa.DateTime),
        sa.Column("decided_by", sa.Text, sa.ForeignKey("user.id")),
        sa.Column("decision_note", sa.Text),
    )
    op.create_index("dgaaccounts_request_queue_idx", "dgaaccounts_request", ["due", "created"])
    op.create_index("dgaaccounts_request_state_idx", "dgaaccounts_request", ["state", "kind"])
    op.create_index("dgaaccounts_request_email_idx", "dgaaccounts_request", ["email"])
    # At most one open registration per address: the database settles races between two sign-ups.
    op.execute(
        "CREATE UNIQUE INDEX dgaaccounts_request_open_email_uq ON dgaaccounts_request (email)"
        " WHERE kind IN ('agency_registration', 'developer_registration')"
        " AND state IN ('awaiting_verification', 'awaiting_document', 'submitted', 'returned')"
    )

    op.create_table(
        "dgaaccounts_document",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, sa.ForeignKey("dgaaccounts_request.id"),
                  nullable=False, index=True),
        sa.Column("original_name", sa.Text, nullable=False),
        sa.Column("mimetype", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("storage_key", sa.Text, nullable=False, unique=True),
        sa.Column("uploaded", sa.DateTime, nullable=False),
        sa.Column("uploaded_by", sa.Text),
        sa.Column("purged", sa.DateTime),
    )

    op.create_table(
        "dgaaccounts_audit",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("created", sa.DateTime, nullable=False, index=True),
        sa.Column("actor_id", sa.Text, index=True),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, index=True),
        sa.Column("target_user_id", sa.Text, index=True),
        sa.Column("from_state", sa.Text),
        sa.Column("to_state", sa.Text),
        sa.Column("details", JSONB, nullable=False, server_default="{}"),
        sa.Column("client_addr", sa.Text),
    )
    # Append-only: the database itself refuses to change or remove an audit event.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION dgaaccounts_audit_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'dgaaccounts_audit is append-only';
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER dgaaccounts_audit_append_only BEFORE UPDATE OR DELETE"
        " ON dgaaccounts_audit FOR EACH ROW EXECUTE FUNCTION dgaaccounts_audit_append_only()"
    )

    op.create_table(
        "dgaaccounts_token",
        sa.Column("token_hash", sa.Text, primary_key=True),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, sa.ForeignKey("dgaaccounts_request.id"),
                  nullable=False, index=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("expires", sa.DateTime, nullable=False),
        sa.Column("used", sa.DateTime),
    )

    op.create_table(
        "dgaaccounts_outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("request_id", sa.Text, index=True),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("recipient_name", sa.Text),
        sa.Column("locale", sa.Text, nullable=False, server_default="th"),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("params", JSONB, nullable=False, server_default="{}"),
        sa.Column("mint", sa.Text),
        sa.Column("state", sa.Text, nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt", sa.DateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent", sa.DateTime),
    )


def downgrade():
    op.drop_table("dgaaccounts_outbox")
    op.drop_table("dgaaccounts_token")
    op.execute("DROP TRIGGER dgaaccounts_audit_append_only ON dgaaccounts_audit")
    op.execute("DROP FUNCTION dgaaccounts_audit_append_only()")
    op.drop_table("dgaaccounts_audit")
    op.drop_table("dgaaccounts_document")
    op.drop_table("dgaaccounts_request")
    op.execute("DROP SEQUENCE dgaaccounts_reference_seq")
