"""register: the id of the agent who answered a call, for the supervisor's board (which matched
agents by name: a warm transfer's "agent → Red member" name, or two agents of the same name,
counted wrong)

Rows written before this migration get the id of the agent whose name is their atendido_por
(the lowest id when two agents share it); rows derived again from their events get it from
the agent_answered event.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("register_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE register_calls SET agent_id = (SELECT min(agents.id) FROM agents "
        "WHERE agents.nombre = register_calls.atendido_por) "
        "WHERE atendido_por IS NOT NULL AND answered_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("register_calls", schema=None) as batch_op:
        batch_op.drop_column("agent_id")
