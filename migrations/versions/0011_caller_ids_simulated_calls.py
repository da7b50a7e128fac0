"""register: caller IDs kept whole (a SIP URI is longer than a number), simulated calls marked

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CALLER_ID = 255  # a SIP URI such as sip:+51987654321@mef-atencion.sip.us1.twilio.com
WIDENED = (("register_calls", 40), ("callback_requests", 20), ("voice_messages", 20))


def upgrade() -> None:
    for table, before in WIDENED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "telefono",
                existing_type=sa.String(length=before),
                type_=sa.String(length=CALLER_ID),
            )
    with op.batch_alter_table("register_calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("simulada", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("register_calls", schema=None) as batch_op:
        batch_op.drop_column("simulada")
    for table, before in WIDENED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "telefono",
                existing_type=sa.String(length=CALLER_ID),
                type_=sa.String(length=before),
            )
