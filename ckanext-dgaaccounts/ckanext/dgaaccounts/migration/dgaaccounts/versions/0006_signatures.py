"""Results of the verification of digitally signed forms (signatures.py).

``dgaaccounts_signature_check``: one row per uploaded document: whether it is the form issued
for its request and whether it carries valid signatures of the applicant (and superior);
``dgaaccounts_signature``: one row per signature (or empty signature field) of a document.
The stored file is never changed; a result can be recomputed from it.

Revision ID: 0006_signatures
Revises: 0004_queue_indexes
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_signatures"
down_revision = "0004_queue_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dgaaccounts_signature_check",
        sa.Column("document_id", sa.Text, sa.ForeignKey("dgaaccounts_document.id"),
                  primary_key=True),
        sa.Column("request_id", sa.Text, sa.ForeignKey("dgaaccounts_request.id"),
                  nullable=False),
        sa.Column("form", sa.Text, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False, default=False),
        sa.Column("signature_count", sa.Integer, nullable=False, default=0),
        sa.Column("checked", sa.DateTime, nullable=False),
    )
    op.create_index("dgaaccounts_signature_check_request_idx", "dgaaccounts_signature_check",
                    ["request_id", "verified"])
    op.create_table(
        "dgaaccounts_signature",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.Text, sa.ForeignKey("dgaaccounts_document.id"),
                  nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("signer_subject", sa.Text),
        sa.Column("signer_name", sa.Text),
        sa.Column("issuer", sa.Text),
        sa.Column("serial", sa.Text),
        sa.Column("signing_time", sa.DateTime),
        sa.Column("intact", sa.Boolean, nullable=False),
        sa.Column("trusted", sa.Boolean, nullable=False),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("modification_level", sa.Text),
        sa.Column("matched", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("checked", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dgaaccounts_signature")
    op.drop_index("dgaaccounts_signature_check_request_idx", "dgaaccounts_signature_check")
    op.drop_table("dgaaccounts_signature_check")
