"""The slice on the production backends: PostgreSQL metadata and warehouse, Redis broker
and pub/sub, a real `dramatiq` worker process, and a WebSocket subscriber."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import asyncpg
import pytest

from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server
from tests.workers import dramatiq_worker

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings

pytestmark = pytest.mark.integration

ROWS = 50_000


async def warehouse_rows(settings: Settings, table: str) -> list[asyncpg.Record]:
    assert settings.database_url
    url = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        # The table name is the test's own (factories.unique), not user input.
        columns = "order_id, status, quantity, unit_price, revenue"
        query = f'SELECT {columns} FROM warehouse."{table}" ORDER BY order_id'  # noqa: S608
        rows: list[asyncpg.Record] = await connection.fetch(query)
        return rows
    finally:
        await connection.close()


async def test_slice_on_postgres_and_redis_with_a_real_worker(
    service_settings: Settings, tmp_path: Path
) -> None:
    _, token = await factories.make_user(service_settings, Role.OPERATOR)
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(ROWS))
    table = factories.unique("orders")

    with (
        dramatiq_worker(service_settings, tmp_path / "worker.log"),
        live_server(service_settings) as server,
    ):
        client = GraphQLClient(server, token)
        spec = factories.orders_spec(table, "replace")
        pipeline_id = await flows.define_pipeline(client, csv_path, spec, table)
        run_id = await flows.trigger(client, pipeline_id)
        # Subscribed from the start: replay and live both go through the real app.
        try:
            messages = await client.subscribe(ops.RUN_EVENTS, {"runId": run_id}, timeout=120)
        except TimeoutError:
            run = (await client.data(ops.RUN, {"id": run_id}))["run"]
            log = (tmp_path / "worker.log").read_text()[-3000:]
            pytest.fail(f"the run did not finish in 120 s: {run}\nworker log:\n{log}")
        run = (await client.data(ops.RUN, {"id": run_id}))["run"]

    events = flows.events_of(messages)
    flows.assert_well_formed_stream(events, "SUCCEEDED")
    assert run["status"] == "SUCCEEDED", (tmp_path / "worker.log").read_text()[-3000:]

    rows = await warehouse_rows(service_settings, table)
    expected = [line.split(",") for line in factories.orders_rows(ROWS)]
    expected = [row for row in expected if row[1] != "cancelled"]
    assert len(rows) == len(expected) == run["rowsWritten"]
    assert run["rowsRead"] == ROWS
    assert run["rowsFiltered"] == ROWS - len(expected)
    for got, want in zip(rows, expected, strict=True):
        order_id, status, quantity, price = int(want[0]), want[1], int(want[2]), float(want[3])
        assert tuple(got) == (order_id, status, quantity, price, quantity * price)


async def test_a_resumed_subscription_sees_each_event_once(
    service_settings: Settings, tmp_path: Path
) -> None:
    _, token = await factories.make_user(service_settings, Role.VIEWER)
    _, operator_token = await factories.make_user(service_settings, Role.OPERATOR)
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(2000))
    table = factories.unique("resume")

    with (
        dramatiq_worker(service_settings, tmp_path / "worker.log"),
        live_server(service_settings) as server,
    ):
        operator = GraphQLClient(server, operator_token)
        pipeline_id = await flows.define_pipeline(
            operator, csv_path, factories.orders_spec(table, "append"), table
        )
        run_id = await flows.trigger(operator, pipeline_id)
        viewer = GraphQLClient(server, token)
        first = flows.events_of(
            await viewer.subscribe(ops.RUN_EVENTS, {"runId": run_id}, stop_after=2)
        )
        await asyncio.sleep(0.2)
        rest = flows.events_of(
            await viewer.subscribe(
                ops.RUN_EVENTS, {"runId": run_id, "after": first[-1]["id"]}, timeout=60
            )
        )
        whole = flows.events_of(await viewer.subscribe(ops.RUN_EVENTS, {"runId": run_id}))

    assert [e["id"] for e in first + rest] == [e["id"] for e in whole]
    flows.assert_well_formed_stream(first + rest, "SUCCEEDED")
