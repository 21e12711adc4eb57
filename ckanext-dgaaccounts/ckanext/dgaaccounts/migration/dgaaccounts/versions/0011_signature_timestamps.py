"""Digitally signed forms: the signature timestamp (RFC 3161) of each signature and the time
its certificates were judged at.

Revision ID: 0011_signature_timestamps
Revises: 0010_escalation
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_signature_timestamps"
down_revision = "0010_escalation"
branch_labels = None
depends_on = None

COLUMNS = (
    ("timestamp_time", sa.DateTime),
    ("timestamp_authority", sa.Text),
    ("timestamp_status", sa.Text),
    ("validity_time", sa.DateTime),
    ("time_source", sa.Text),
)


def upgrade():
    for name, type_ in COLUMNS:
        op.add_column("dgaaccounts_signature", sa.Column(name, type_, nullable=True))


def downgrade():
    for name, _type in reversed(COLUMNS):
        op.drop_column("dgaaccounts_signature", name)
