"""routing: visit notices, overdue flag on callback requests

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("vencida", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "visit_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=40), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_notices")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_visit_notices_call_sid")),
    )


def downgrade() -> None:
    op.drop_table("visit_notices")
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.drop_column("vencida")
