"""register: the Red member's note on a call, and the report sendings (issue 14, /red and
`flask report send-monthly|send-quarterly`)

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("register_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nota_red", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("nota_red_por", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("nota_red_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "report_sendings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("organo", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("rol", sa.String(length=10), nullable=True),
        sa.Column("nombre", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_sendings")),
        sa.UniqueConstraint(
            "kind",
            "period",
            "organo",
            "recipient",
            name=op.f("uq_report_sendings_kind_period_organo_recipient"),
        ),
    )


def downgrade() -> None:
    op.drop_table("report_sendings")
    with op.batch_alter_table("register_calls", schema=None) as batch_op:
        batch_op.drop_column("nota_red_at")
        batch_op.drop_column("nota_red_por")
        batch_op.drop_column("nota_red")
