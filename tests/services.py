"""Reaching the real PostgreSQL and Redis for integration tests: skip, or fail in CI."""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
import pytest
import redis

PG_ADMIN_URL = os.environ.get(
    "DATAFLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("DATAFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def services_required() -> bool:
    return os.environ.get("DATAFLOW_REQUIRE_SERVICES") == "1"


def unavailable(what: str, error: BaseException) -> None:
    """Skip with the reason, or fail when CI says the services must be there."""
    message = f"{what} is not reachable ({error}); integration tests need it"
    if services_required():
        pytest.fail(f"{message} and DATAFLOW_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


async def _admin_execute(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def create_database() -> str:
    """Create a throw-away database and return its asyncpg SQLAlchemy URL."""
    name = f"dataflow_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def check_redis() -> str:
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    try:
        client.ping()
    finally:
        client.close()
    return REDIS_TEST_URL
