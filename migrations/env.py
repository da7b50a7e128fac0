"""Alembic environment: the metadata of every package's models."""

from __future__ import annotations

from alembic import context

import admin.models  # noqa: F401
import directory.models  # noqa: F401
import ivr.models  # noqa: F401
import register.models  # noqa: F401
import routing.models  # noqa: F401
from extensions import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by migrations_cli.alembic_config"
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
