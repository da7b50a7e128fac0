"""Schema changes go through Alembic: one head, and the migrated schema matches the models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from extensions import Base, make_engine
from migrations_cli import alembic_config


def migrated_over(tmp_path: Path, revision: str, seed: Callable[[Connection], None]) -> Engine:
    """A SQLite file migrated to ``revision``, given ``seed``'s rows, then to the head."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    command.upgrade(alembic_config(url), revision)
    engine = make_engine(url)
    with engine.begin() as conn:
        seed(conn)
    command.upgrade(alembic_config(url), "heads")
    return engine


def test_migrations_have_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_0010_renames_the_roles_and_gives_every_user_a_session_token(tmp_path: Path) -> None:
    def seed(conn: Connection) -> None:
        for name, role in (("a", "agent"), ("v", "viewer"), ("s", "supervisor")):
            conn.execute(
                text(
                    "INSERT INTO users (username, nombre, role, password_hash, activo, "
                    "created_at) VALUES (:u, :u, :r, 'x', 1, '2026-01-01')"
                ),
                {"u": name, "r": role},
            )

    engine = migrated_over(tmp_path, "0005", seed)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT username, role, session_token, must_change_password FROM users")
            ).all()
    finally:
        engine.dispose()
    assert {r[0]: r[1] for r in rows} == {"a": "agente", "v": "lector", "s": "supervisor"}
    tokens = [r[2] for r in rows]
    assert all(tokens) and len(set(tokens)) == 3
    assert not any(r[3] for r in rows)


def test_0014_gives_each_answered_row_the_id_of_the_agent_of_its_name(tmp_path: Path) -> None:
    def seed(conn: Connection) -> None:
        for agent_id, nombre in ((4, "Rosa Quispe"), (9, "Rosa Quispe"), (5, "Luis Mamani")):
            conn.execute(
                text(
                    "INSERT INTO agents (id, nombre, canal, destino, activo, created_at) "
                    "VALUES (:id, :n, 'client', :n, 1, '2026-01-01')"
                ),
                {"id": agent_id, "n": nombre},
            )
        rows = (
            ("CA1", "Rosa Quispe", "2026-11-30 15:00:10"),  # two agents of that name
            ("CA2", "Luis Mamani", "2026-11-30 15:00:10"),
            ("CA3", "Luis Mamani", None),  # not answered
            ("CA4", "Tita Titular", "2026-11-30 15:00:10"),  # a Red member
        )
        for sid, by, answered in rows:
            conn.execute(
                text(
                    "INSERT INTO register_calls (call_sid, fecha, hora_inicio, canal, idioma, "
                    "tipo_usuario, resultado, started_at, journey, events, event_count, "
                    "updated_at, atendido_por, answered_at) VALUES (:sid, '2026-11-30', "
                    "'10:00:00', 'telefonico', 'es', 'ciudadano', 'atendida', "
                    "'2026-11-30 15:00:00', '{}', '[]', 0, '2026-11-30 15:05:00', :by, :at)"
                ),
                {"sid": sid, "by": by, "at": answered},
            )

    engine = migrated_over(tmp_path, "0013", seed)
    try:
        with engine.connect() as conn:
            query = text("SELECT call_sid, agent_id FROM register_calls")
            found: dict[str, int | None] = {sid: agent for sid, agent in conn.execute(query)}
    finally:
        engine.dispose()
    assert found == {"CA1": 4, "CA2": 5, "CA3": None, "CA4": None}
