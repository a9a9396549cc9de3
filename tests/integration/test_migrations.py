"""Migrations: up and down on SQLite and PostgreSQL, and in step with the models."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables)
from app import migrate
from app.db import create_engine

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Connection

TABLES = {"users", "sources", "pipelines", "runs", "run_events", "alembic_version"}


def _inspect(url: str) -> tuple[set[str], list[Any]]:
    """The tables present, and what autogenerate would change to match the models."""

    def read(connection: Connection) -> tuple[set[str], list[Any]]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        tables = set(inspect(connection).get_table_names())
        return tables, compare_metadata(context, SQLModel.metadata)

    async def run() -> tuple[set[str], list[Any]]:
        engine = create_engine(url)
        async with engine.connect() as connection:
            result = await connection.run_sync(read)
        await engine.dispose()
        return result

    return asyncio.run(run())


def _round_trip(url: str) -> None:
    migrate.upgrade(url)
    tables, diff = _inspect(url)
    assert tables >= TABLES
    assert diff == [], f"models and migrations disagree: {diff}"
    migrate.downgrade(url)
    tables, _ = _inspect(url)
    assert tables & (TABLES - {"alembic_version"}) == set()
    migrate.upgrade(url)
    assert _inspect(url)[0] >= TABLES


def test_sqlite_upgrade_downgrade_and_models_agree(tmp_path: Path) -> None:
    _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")


@pytest.mark.integration
def test_postgres_upgrade_downgrade_and_models_agree(pg_url: str) -> None:
    _round_trip(pg_url)
