"""Alembic wired to the app: `flask db upgrade` and the helper the tests and `make run` use."""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app

from cli_support import Group

ROOT = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_database(database_url: str) -> None:
    """Bring the schema to the newest revision of every branch."""
    command.upgrade(alembic_config(database_url), "heads")


def init_app(app: Flask) -> None:
    @app.cli.group("db", cls=Group)
    def db_group() -> None:
        """Esquema de la base de datos (migraciones de Alembic)."""

    @db_group.command("upgrade")
    def upgrade() -> None:
        """Aplica las migraciones pendientes."""
        upgrade_database(current_app.config["DATABASE_URL"])
        click.echo("Esquema de base de datos actualizado.")

    @db_group.command("revision")
    @click.option("-m", "--message", required=True, metavar="TEXTO", help="Qué cambia.")
    def revision(message: str) -> None:
        """Genera una migración a partir de los modelos (solo desarrolladores)."""
        command.revision(
            alembic_config(current_app.config["DATABASE_URL"]), message=message, autogenerate=True
        )
