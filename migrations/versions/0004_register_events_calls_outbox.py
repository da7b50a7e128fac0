"""register: the Anexo 1 row per call (with its journey events), the outbox

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-25 00:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "register_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("fecha", sa.Date(), nullable=False),
        sa.Column("hora_inicio", sa.Time(), nullable=False),
        sa.Column("hora_fin", sa.Time(), nullable=True),
        sa.Column("canal", sa.String(length=20), nullable=False),
        sa.Column("telefono", sa.String(length=40), nullable=True),
        sa.Column("region", sa.String(length=50), nullable=True),
        sa.Column("idioma", sa.String(length=10), nullable=False),
        sa.Column("tipo_usuario", sa.String(length=20), nullable=False),
        sa.Column("preferencial", sa.String(length=20), nullable=True),
        sa.Column("tipo_consulta", sa.String(length=20), nullable=True),
        sa.Column("detalle", sa.String(length=100), nullable=True),
        sa.Column("expediente", sa.String(length=64), nullable=True),
        sa.Column("organo", sa.String(length=20), nullable=True),
        sa.Column("derivacion", sa.String(length=20), nullable=True),
        sa.Column("atendido_por", sa.String(length=200), nullable=True),
        sa.Column("resultado", sa.String(length=30), nullable=False),
        sa.Column("espera_seg", sa.Integer(), nullable=True),
        sa.Column("duracion_seg", sa.Integer(), nullable=True),
        sa.Column("encuesta", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("atencion_seg", sa.Integer(), nullable=True),
        sa.Column("final_status", sa.String(length=20), nullable=True),
        sa.Column("journey", sa.JSON(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_register_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_register_calls_call_sid")),
    )
    op.create_index(op.f("ix_register_calls_fecha"), "register_calls", ["fecha"], unique=False)
    op.create_index(op.f("ix_register_calls_organo"), "register_calls", ["organo"], unique=False)
    op.create_index(
        op.f("ix_register_calls_started_at"), "register_calls", ["started_at"], unique=False
    )
    op.create_table(
        "register_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_register_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_register_outbox_event_id")),
    )


def downgrade() -> None:
    op.drop_table("register_outbox")
    op.drop_index(op.f("ix_register_calls_started_at"), table_name="register_calls")
    op.drop_index(op.f("ix_register_calls_organo"), table_name="register_calls")
    op.drop_index(op.f("ix_register_calls_fecha"), table_name="register_calls")
    op.drop_table("register_calls")
