"""Steering runs and pipelines through the API: cancel, retry, versions, previews, and
the live run list."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from app.etl.warehouse import open_warehouse
from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings

CANCEL = "mutation($id: ID!) { cancelRun(runId: $id) { run { status } errors { code message } } }"
RETRY = """mutation($id: ID!) {
  retryRun(runId: $id) { run { status attempt } errors { code message } }
}"""
UPDATE_PIPELINE = """mutation($id: ID!, $spec: JSON) {
  updatePipeline(input: {id: $id, spec: $spec}) {
    pipeline { version versions { version spec } } errors { code message path }
  }
}"""
DELETE_PIPELINE = "mutation($id: ID!) { deletePipeline(id: $id) { errors { code } } }"
PIPELINE = "query($id: ID!) { pipeline(id: $id) { name version lastRun { id status } } }"
PREVIEW_PIPELINE = """mutation($source: ID!, $spec: JSON!) {
  previewPipeline(input: {sourceId: $source, spec: $spec, limit: 3}) {
    preview { columns { name type } rows rowsSampled } errors { code message path }
  }
}"""
PREVIEW_SOURCE = """mutation($id: ID!) {
  previewSource(id: $id, limit: 2) { preview { columns { name } rows } errors { code } }
}"""
RUN_UPDATES = """subscription($pipeline: ID) {
  runUpdates(pipelineId: $pipeline) { id status rowsWritten }
}"""
RUNS_BY_STATUS = """query($pipeline: ID!, $statuses: [RunStatus!]) {
  runs(filter: {pipelineId: $pipeline, statuses: $statuses}) { nodes { id status } }
}"""


@pytest.fixture
def small_batches(embedded_settings: Settings) -> Settings:
    """Many small batches, so a run is still loading when the test cancels it."""
    return embedded_settings.model_copy(update={"etl_batch_rows": 1000})


@pytest.fixture
def server(small_batches: Settings) -> Iterator[str]:
    with live_server(small_batches) as url:
        yield url


@pytest.fixture
async def operator(server: str, small_batches: Settings) -> GraphQLClient:
    return GraphQLClient(server, (await factories.make_user(small_batches, Role.OPERATOR))[1])


async def table_height(settings: Settings, table: str) -> int:
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        return (await warehouse.read_table(table)).height
    finally:
        await warehouse.close()


async def test_cancel_mid_load_leaves_the_table_and_retry_loads_it(
    operator: GraphQLClient, small_batches: Settings, tmp_path: Path
) -> None:
    table = "cancelled_load"
    small = factories.write_csv(tmp_path, factories.orders_rows(8))
    seed = await flows.define_pipeline(
        operator, small, factories.orders_spec(table, "append"), "seed"
    )
    await flows.wait_for_end(operator, await flows.trigger(operator, seed))
    before = await table_height(small_batches, table)

    big = factories.write_csv(tmp_path, factories.orders_rows(200_000))
    pipeline = await flows.define_pipeline(
        operator, big, factories.orders_spec(table, "append"), "big"
    )
    run_id = await flows.trigger(operator, pipeline)
    # Cancel as soon as the first batch has been written.
    await operator.subscribe(ops.RUN_EVENTS, {"runId": run_id}, stop_after=6)
    cancelled = await operator.data(CANCEL, {"id": run_id})
    assert cancelled["cancelRun"]["run"]["status"] == "CANCELLING"
    run = await flows.wait_for_end(operator, run_id)
    assert run["status"] == "CANCELLED"
    assert 0 < run["rowsRead"] < 200_000
    assert await table_height(small_batches, table) == before

    events = flows.events_of(await operator.subscribe(ops.RUN_EVENTS, {"runId": run_id}))
    assert "cancel_requested" in [event["kind"] for event in events]
    assert events[-1]["payload"]["status"] == "cancelled"

    retried = await operator.data(RETRY, {"id": run_id})
    assert retried["retryRun"]["run"] == {"status": "QUEUED", "attempt": 2}
    again = await flows.wait_for_end(operator, run_id)
    assert again["status"] == "SUCCEEDED"
    assert await table_height(small_batches, table) == before + again["rowsWritten"]


async def test_cancel_and_retry_refuse_what_they_cannot_do(
    operator: GraphQLClient, tmp_path: Path
) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(5))
    pipeline = await flows.define_pipeline(
        operator, csv_path, factories.orders_spec("done", "append"), "done"
    )
    run_id = await flows.trigger(operator, pipeline)
    assert (await flows.wait_for_end(operator, run_id))["status"] == "SUCCEEDED"
    cancel = await operator.data(CANCEL, {"id": run_id})
    assert cancel["cancelRun"]["errors"][0]["code"] == "INVALID_TRANSITION"
    retry = await operator.data(RETRY, {"id": run_id})
    assert retry["retryRun"]["errors"][0]["code"] == "INVALID_TRANSITION"
    assert (await operator.data(CANCEL, {"id": "nope"}))["cancelRun"]["errors"][0][
        "code"
    ] == "RUN_NOT_FOUND"
    succeeded = await operator.data(
        RUNS_BY_STATUS, {"pipeline": pipeline, "statuses": ["SUCCEEDED"]}
    )
    assert [node["id"] for node in succeeded["runs"]["nodes"]] == [run_id]
    failed = await operator.data(RUNS_BY_STATUS, {"pipeline": pipeline, "statuses": ["FAILED"]})
    assert failed["runs"]["nodes"] == []


async def test_pipeline_versions_and_runs_keep_the_version_they_ran(
    operator: GraphQLClient, small_batches: Settings, tmp_path: Path
) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(20))
    pipeline = await flows.define_pipeline(
        operator, csv_path, factories.orders_spec("versioned", "replace"), "versioned"
    )
    first = await flows.wait_for_end(operator, await flows.trigger(operator, pipeline))
    narrower = factories.orders_spec("versioned", "replace")
    narrower["steps"].append({"filter": "quantity >= 3"})
    updated = await operator.data(UPDATE_PIPELINE, {"id": pipeline, "spec": narrower})
    assert updated["updatePipeline"]["pipeline"]["version"] == 2
    assert [v["version"] for v in updated["updatePipeline"]["pipeline"]["versions"]] == [2, 1]
    second = await flows.wait_for_end(operator, await flows.trigger(operator, pipeline))
    assert second["rowsWritten"] < first["rowsWritten"]
    assert await table_height(small_batches, "versioned") == second["rowsWritten"]

    bad = {"steps": [{"filter": "nope >"}], "destination": {"table": "versioned"}}
    refused = await operator.data(UPDATE_PIPELINE, {"id": pipeline, "spec": bad})
    assert refused["updatePipeline"]["errors"][0]["code"] == "EXPRESSION_INVALID"
    shown = (await operator.data(PIPELINE, {"id": pipeline}))["pipeline"]
    assert shown["version"] == 2
    assert shown["lastRun"]["status"] == "SUCCEEDED"

    deleted = await operator.data(DELETE_PIPELINE, {"id": pipeline})
    assert deleted["deletePipeline"]["errors"] == []
    assert (await operator.data(PIPELINE, {"id": pipeline}))["pipeline"] is None
    gone = await operator.data(ops.TRIGGER_RUN, {"pipelineId": pipeline})
    assert gone["triggerRun"]["errors"][0]["code"] == "PIPELINE_NOT_FOUND"


async def test_previews_load_nothing(
    operator: GraphQLClient, small_batches: Settings, tmp_path: Path
) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(50))
    created = await operator.data(
        ops.CREATE_SOURCE,
        {"input": {"name": "previewed", "kind": "csv", "uri": str(csv_path)}},
    )
    source_id = created["createSource"]["source"]["id"]
    source = (await operator.data(PREVIEW_SOURCE, {"id": source_id}))["previewSource"]
    assert [c["name"] for c in source["preview"]["columns"]] == [
        "order_id",
        "status",
        "quantity",
        "unit_price",
    ]
    assert source["preview"]["rows"][0][:2] == [1, "paid"]

    spec = factories.orders_spec("never_loaded")
    shown = (await operator.data(PREVIEW_PIPELINE, {"source": source_id, "spec": spec}))[
        "previewPipeline"
    ]["preview"]
    assert shown["rowsSampled"] == 50
    assert shown["columns"][-1] == {"name": "revenue", "type": "Float64"}
    assert [row[1] for row in shown["rows"]] == ["paid", "shipped", "paid"]
    assert shown["rows"][0][-1] == shown["rows"][0][2] * shown["rows"][0][3]
    bad = {"steps": [{"derive": {"x": "missing_col + 1"}}], "destination": {"table": "t"}}
    refused = (await operator.data(PREVIEW_PIPELINE, {"source": source_id, "spec": bad}))[
        "previewPipeline"
    ]
    assert refused["errors"][0]["code"] in {"TRANSFORM_FAILED", "EXPRESSION_INVALID"}
    with pytest.raises(Exception, match="never_loaded"):
        await table_height(small_batches, "never_loaded")


async def test_run_updates_stream_a_pipelines_runs(operator: GraphQLClient, tmp_path: Path) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(10))
    pipeline = await flows.define_pipeline(
        operator, csv_path, factories.orders_spec("watched", "append"), "watched"
    )
    watcher = asyncio.create_task(
        operator.subscribe(
            RUN_UPDATES,
            {"pipeline": pipeline},
            until=lambda update: update["data"]["runUpdates"]["status"] == "SUCCEEDED",
            timeout=15,
        )
    )
    await asyncio.sleep(0.5)  # let the subscription start before the run does
    run_id = await flows.trigger(operator, pipeline)
    await flows.wait_for_end(operator, run_id)
    try:
        updates: list[dict[str, Any]] = await watcher
    except TimeoutError:
        pytest.fail("runUpdates did not deliver")
    statuses = [u["data"]["runUpdates"]["status"] for u in updates]
    assert all(u["data"]["runUpdates"]["id"] == run_id for u in updates)
    assert statuses[0] == "QUEUED"
    assert "RUNNING" in statuses
    assert statuses[-1] == "SUCCEEDED"
