"""register: the agent's wrap-up (detalle as free text, the result of the attention) and a
callback attempt's link to the call it returns

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("register_calls", schema=None) as batch_op:
        batch_op.alter_column("detalle", existing_type=sa.String(length=100), type_=sa.Text())
        batch_op.add_column(sa.Column("resultado_atencion", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("devolucion_de", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_register_calls_devolucion_de", ["devolucion_de"])


def downgrade() -> None:
    with op.batch_alter_table("register_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_register_calls_devolucion_de")
        batch_op.drop_column("devolucion_de")
        batch_op.drop_column("resultado_atencion")
        batch_op.alter_column("detalle", existing_type=sa.Text(), type_=sa.String(length=100))
