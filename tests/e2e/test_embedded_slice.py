"""The whole slice on the embedded backends, through the real server over HTTP and WS:
define a source and a pipeline, trigger a run, follow it live, read the loaded rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pytest

from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings

ROWS = 1000


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


def expected_orders(rows: int) -> pl.DataFrame:
    """Computed independently of the engine: the same rule the factory wrote."""
    frame = pl.DataFrame(
        [line.split(",") for line in factories.orders_rows(rows)],
        schema=["order_id", "status", "quantity", "unit_price"],
        orient="row",
    ).with_columns(
        pl.col("order_id").cast(pl.Int64),
        pl.col("quantity").cast(pl.Int64),
        pl.col("unit_price").cast(pl.Float64),
    )
    kept = frame.filter(pl.col("status") != "cancelled")
    return kept.with_columns((pl.col("quantity") * pl.col("unit_price")).alias("revenue"))


async def test_login_then_a_run_end_to_end(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    user, _ = await factories.make_user(embedded_settings, Role.OPERATOR)
    login = await GraphQLClient(server).data(
        ops.LOGIN, {"email": user.email, "password": "s3cret-pass"}
    )
    assert login["login"]["errors"] == []
    client = GraphQLClient(server, login["login"]["token"])

    csv_path = factories.write_csv(tmp_path, factories.orders_rows(ROWS))
    spec = factories.orders_spec("orders_clean", mode="append")
    pipeline_id = await flows.define_pipeline(client, csv_path, spec, "orders_slice")
    run_id = await flows.trigger(client, pipeline_id)

    events = flows.events_of(await client.subscribe(ops.RUN_EVENTS, {"runId": run_id}))
    flows.assert_well_formed_stream(events, "SUCCEEDED")
    stages = [(e["kind"], e["stage"]) for e in events if e["kind"].startswith("stage_")]
    for stage in ("extract", "transform", "load"):
        assert ("stage_started", stage) in stages
        assert ("stage_finished", stage) in stages
    assert any(e["kind"] == "progress" for e in events)

    run = (await client.data(ops.RUN, {"id": run_id}))["run"]
    expected = expected_orders(ROWS)
    assert run["status"] == "SUCCEEDED"
    assert run["error"] is None
    assert run["rowsRead"] == ROWS
    assert run["rowsWritten"] == expected.height
    assert run["rowsFiltered"] == ROWS - expected.height
    assert run["pipeline"] == {"name": "orders_slice", "source": {"name": "orders_slice_src"}}
    assert events[-1]["payload"]["rows_written"] == expected.height

    loaded = await flows.read_table(embedded_settings, "orders_clean")
    assert loaded.select(expected.columns).equals(expected)


async def test_replace_swaps_and_append_accumulates(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    client = GraphQLClient(server, token)
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(40))
    kept = expected_orders(40).height

    appending = await flows.define_pipeline(
        client, csv_path, factories.orders_spec("accumulated", "append"), "appending"
    )
    replacing = await flows.define_pipeline(
        client, csv_path, factories.orders_spec("replaced", "replace"), "replacing"
    )
    for _ in range(2):
        for pipeline_id in (appending, replacing):
            run = await flows.wait_for_end(client, await flows.trigger(client, pipeline_id))
            assert run["status"] == "SUCCEEDED", run["error"]

    assert (await flows.read_table(embedded_settings, "accumulated")).height == 2 * kept
    assert (await flows.read_table(embedded_settings, "replaced")).height == kept


async def test_the_same_idempotency_key_returns_the_same_run(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    client = GraphQLClient(server, token)
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(10))
    pipeline_id = await flows.define_pipeline(
        client, csv_path, factories.orders_spec("idem", "append"), "idem"
    )
    first = await flows.trigger(client, pipeline_id, key="nightly-2026-11-26")
    second = await flows.trigger(client, pipeline_id, key="nightly-2026-11-26")
    assert first == second
    await flows.wait_for_end(client, first)
    assert (await flows.read_table(embedded_settings, "idem")).height == expected_orders(10).height

    page = (await client.data(ops.RUNS, {"first": 10}))["runs"]
    assert [node["id"] for node in page["nodes"]] == [first]


async def test_health_and_readiness(server: str) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=server) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert health.status_code == 200
    assert health.headers["x-request-id"]
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"metadata": "ok", "broker": "ok"}
