"""Reaching the real PostgreSQL and Redis for integration tests: skip, or fail in CI."""

from __future__ import annotations

import asyncio
import fcntl
import os
import tempfile
import uuid
from pathlib import Path
from typing import IO

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


def claim_redis_database(url: str) -> IO[str]:
    """Hold this machine's claim on the test Redis database for the whole session.

    Every test empties that database, so two test sessions sharing it break each other
    at random. The claim is an exclusive lock on a file named after the URL: a second
    session stops at once with a clear message, and a killed session's claim goes with
    its process.
    """
    name = "dataflow-tests-" + "".join(c if c.isalnum() else "_" for c in url) + ".lock"
    handle = (Path(tempfile.gettempdir()) / name).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        pytest.exit(
            f"another test session ({holder}) is using {url}, which every test empties; "
            "wait for it, or give this one its own database with DATAFLOW_TEST_REDIS_URL",
            returncode=3,
        )
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle
