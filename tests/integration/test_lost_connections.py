"""Connections PostgreSQL drops while they sit idle (a `pg_terminate_backend`, a
restart): the error they raise reads as a lost connection, which a run retries, never as
a bug that fails it; the metadata pool throws such a connection away."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import get_engine
from app.errors import WarehouseUnavailable
from app.etl.warehouse.postgres import PostgresWarehouse
from app.faults import error_code, is_transient
from tests.integration.slow_close import SlowToCloseProxy, slow_to_close_proxy
from tests.unit.etl import warehouse_contract as contract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from app.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(pg_url: str) -> Iterator[SlowToCloseProxy]:
    with slow_to_close_proxy(pg_url) as proxy:
        yield proxy


@pytest.fixture
async def admin(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    yield connection
    await connection.close()


async def test_a_dropped_pooled_connection_is_lost_and_replaced(
    service_settings: Settings,
    proxy: SlowToCloseProxy,
    admin: asyncpg.Connection,
) -> None:
    assert service_settings.database_url
    settings = service_settings.model_copy(
        update={"database_url": proxy.url_through(service_settings.database_url)}
    )
    engine = get_engine(settings)
    async with engine.connect() as connection:
        first = await connection.scalar(text("SELECT pg_backend_pid()"))

    assert await proxy.terminate_backends(admin) == 1
    await proxy.goodbyes_relayed()
    with pytest.raises(DBAPIError) as raised:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    assert raised.value.connection_invalidated
    assert error_code(raised.value) == "CONNECTION_LOST"
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT pg_backend_pid()")) != first


async def test_a_load_whose_connection_is_dropped_between_batches_is_transient(
    pg_url: str, proxy: SlowToCloseProxy, admin: asyncpg.Connection
) -> None:
    warehouse = PostgresWarehouse(proxy.url_through(pg_url))
    table = contract.unique_table()
    load = await warehouse.begin_load(table=table, mode="append", run_id="dropped")
    await load.write(contract.orders(range(3)))

    assert await proxy.terminate_backends(admin) >= 1
    await proxy.goodbyes_relayed()
    await load.write(contract.orders(range(3, 6)))  # queued; the batch job fails
    with pytest.raises(WarehouseUnavailable) as raised:
        await load.commit()

    assert is_transient(raised.value)
    assert raised.value.code == "WAREHOUSE_UNAVAILABLE"
    assert table in raised.value.message
    await load.abort()
