"""Shared fixtures: settings on a throw-away data dir, and the real PostgreSQL and Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import redis

from app import migrate
from app.config import Environment, Settings, get_settings
from tests import environment, services

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def pytest_configure(config: pytest.Config) -> None:
    """Before any test: drop the settings an operator's shell may export (see
    tests/environment.py), so every test and every process it starts sees only what
    the test gives it."""
    environment.scrub()
    # Nothing should have read the settings yet; if a plugin did, forget what it read.
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (asyncpg SQLAlchemy URL)."""
    try:
        url = services.create_database()
    except (OSError, Exception) as error:  # asyncpg raises several unrelated types
        services.unavailable("PostgreSQL", error)
        raise
    yield url
    services.drop_database(url)


@pytest.fixture(scope="session")
def claimed_redis_url() -> Iterator[str]:
    """The test Redis database, reachable and claimed by this session alone."""
    try:
        url = services.check_redis()
    except redis.RedisError as error:
        services.unavailable("Redis", error)
        raise
    claim = services.claim_redis_database(url)
    yield url
    claim.close()


@pytest.fixture
def redis_url(claimed_redis_url: str) -> Iterator[str]:
    """Redis database 15, emptied before and after each test."""
    url = claimed_redis_url
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """Settings for the embedded backends (SQLite, DuckDB, in-process broker), migrated."""
    settings = Settings(
        env=Environment.DEV,
        data_dir=tmp_path / "data",
        file_roots=[tmp_path],
        database_url=None,
        warehouse_url=None,
        redis_url=None,
        secret_key="embedded-test-secret-key-0123456789",
    )
    migrate.upgrade(settings.metadata_url)
    return settings


@pytest.fixture(scope="session")
def migrated_pg_url(pg_url: str) -> str:
    migrate.upgrade(pg_url)
    return pg_url


@pytest.fixture
def service_settings(migrated_pg_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """Settings for the production backends: PostgreSQL metadata + warehouse, Redis."""
    return Settings(
        env=Environment.DEV,
        data_dir=tmp_path / "data",
        file_roots=[tmp_path],
        database_url=migrated_pg_url,
        warehouse_url=None,
        redis_url=redis_url,
        secret_key="service-test-secret-key-0123456789",
    )
