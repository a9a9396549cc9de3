"""Steps of the slice shared by the embedded and the services end-to-end tests."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from app.etl.warehouse import open_warehouse
from tests import factories
from tests.e2e import operations as ops

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

    from app.config import Settings
    from tests.live import GraphQLClient

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


async def read_table(settings: Settings, table: str) -> pl.DataFrame:
    """A loaded table as the warehouse holds it, in order_id order."""
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        return (await warehouse.read_table(table)).sort("order_id")
    finally:
        await warehouse.close()


async def define_pipeline(
    client: GraphQLClient, csv_path: Path, spec: dict[str, Any], name: str
) -> str:
    source = await client.data(
        ops.CREATE_SOURCE,
        {"input": {"name": f"{name}_src", "kind": "csv", "uri": str(csv_path)}},
    )
    payload = source["createSource"]
    assert payload["errors"] == []
    pipeline = await client.data(
        ops.CREATE_PIPELINE,
        {"input": {"name": name, "sourceId": payload["source"]["id"], "spec": spec}},
    )
    assert pipeline["createPipeline"]["errors"] == []
    pipeline_id: str = pipeline["createPipeline"]["pipeline"]["id"]
    return pipeline_id


async def trigger(client: GraphQLClient, pipeline_id: str, key: str | None = None) -> str:
    data = await client.data(ops.TRIGGER_RUN, {"pipelineId": pipeline_id, "key": key})
    assert data["triggerRun"]["errors"] == []
    run_id: str = data["triggerRun"]["run"]["id"]
    return run_id


async def wait_for_end(client: GraphQLClient, run_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll `run(id)` until the run is terminal (the way a simple dashboard would)."""
    async with asyncio.timeout(timeout):
        while True:
            run: dict[str, Any] = (await client.data(ops.RUN, {"id": run_id}))["run"]
            if run["status"] in TERMINAL:
                return run
            await asyncio.sleep(0.1)


def events_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for message in messages:
        assert "errors" not in message, message
    return [message["data"]["runEvents"] for message in messages]


def assert_well_formed_stream(events: list[dict[str, Any]], final_status: str) -> None:
    """Strictly increasing ids, queued then started, ends with the terminal status."""
    ids = [int(event["id"]) for event in events]
    assert ids == sorted(set(ids)), "events out of order or repeated"
    assert [event["kind"] for event in events[:2]] == ["run_queued", "run_started"]
    assert events[-1]["kind"] == "run_finished"
    assert events[-1]["payload"]["status"] == final_status.lower()
    assert sum(event["kind"] == "run_finished" for event in events) == 1
    # The typed kind (an enum) and the deprecated string name the same kind, wherever
    # the query asked for both.
    typed = [event for event in events if "type" in event]
    assert all(event["type"] == event["kind"].upper() for event in typed)


async def create_pipeline_errors(
    client: GraphQLClient, tmp_path: Path, spec: dict[str, Any]
) -> list[dict[str, Any]]:
    """The errors createPipeline answers for `spec` over a fresh CSV source (no pipeline made)."""
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(3))
    source = await client.data(
        ops.CREATE_SOURCE,
        {"input": {"name": factories.unique("s"), "kind": "csv", "uri": str(csv_path)}},
    )
    source_id = source["createSource"]["source"]["id"]
    data = await client.data(
        ops.CREATE_PIPELINE,
        {"input": {"name": factories.unique("p"), "sourceId": source_id, "spec": spec}},
    )
    assert data["createPipeline"]["pipeline"] is None
    errors: list[dict[str, Any]] = data["createPipeline"]["errors"]
    return errors
