"""The demo users of the staff pages (`flask seed demo`): one per role, each linked to the demo
record it needs. They share the published password ``DEMO_PASSWORD``, for a local
demonstration only, and must choose their own at their first sign-in."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.models import User
from directory import audit
from directory.demo import AGENTS
from directory.models import Agent, Organo

DEMO_PASSWORD = "cambiar-esta-clave"

USERS = (
    ("admin", "Administradora de la demostración", "admin"),
    ("supervisor", "Supervisor de la Plataforma (demostración)", "supervisor"),
    ("agente", "Rosa Huamán Quispe", "agente"),
    ("lector", "Lector de reportes (demostración)", "lector"),
    ("red", "Titular de DGPP en la Red (demostración)", "red"),  # linked to DGPP's titular
)
RED_ORGANO = "DGPP"


def seed_demo_users(session: Session, actor: str) -> int:
    """Add the demo users not there yet; returns how many. The caller commits."""
    existing = set(session.scalars(select(User.username)))
    agent_id = session.scalar(select(Agent.id).where(Agent.nombre == AGENTS[0][0]))
    organo = session.scalars(select(Organo).where(Organo.sigla == RED_ORGANO)).first()
    titular = organo.current("titular") if organo else None
    added = 0
    for username, nombre, role in USERS:
        if username in existing or (role == "red" and titular is None):
            continue
        # The demo password is published: each demo user must choose their own at sign-in.
        user = User(
            username=username, nombre=nombre, role=role, activo=True, must_change_password=True
        )
        user.agent_id = agent_id if role == "agente" else None
        user.representative_id = titular.id if role == "red" and titular else None
        user.set_password(DEMO_PASSWORD)
        session.add(user)
        session.flush()
        audit.record(
            session,
            actor=actor,
            entity="user",
            entity_id=username,
            action="create",
            after={"username": username, "nombre": nombre, "role": role},
            note="usuario de demostración",
        )
        added += 1
    return added
