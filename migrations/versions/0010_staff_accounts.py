"""staff accounts: Spanish role names, the red role's representative, forced password change,
server-side session token

Revision ID: 0010
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0005"
branch_labels = None
depends_on = None

RENAMED = {"agent": "agente", "viewer": "lector"}


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("representative_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_users_representative_id_representatives"),
            "representatives",
            ["representative_id"],
            ["id"],
        )
    users = sa.table(
        "users",
        sa.column("id", sa.Integer()),
        sa.column("role", sa.String()),
        sa.column("session_token", sa.String()),
    )
    conn = op.get_bind()
    for old, new in RENAMED.items():
        conn.execute(users.update().where(users.c.role == old).values(role=new))
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(session_token=secrets.token_urlsafe(32))
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    users = sa.table("users", sa.column("role", sa.String()))
    conn = op.get_bind()
    for old, new in RENAMED.items():
        conn.execute(users.update().where(users.c.role == new).values(role=old))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_users_representative_id_representatives"), type_="foreignkey"
        )
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("session_token")
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("representative_id")
