"""Backfills and operational settings through the API, on the embedded backends."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings

BACKFILL = """
mutation($id: ID!, $from: DateTime!, $to: DateTime!, $unsafe: Boolean! = false) {
  backfill(input: {pipelineId: $id, from: $from, to: $to, step: DAY,
                   allowUnsafeMode: $unsafe}) {
    backfill { id partitions step } errors { code message path }
  }
}"""
PROGRESS = """
query($id: ID!) {
  backfill(id: $id) { partitions progress { total succeeded failed queued running done } }
}"""
RUNS_OF = """
query($id: ID!) { runs(filter: {backfillId: $id}) { nodes { params scheduledFor status } } }"""
OPERATIONS = """
mutation($id: ID!) {
  updatePipeline(input: {id: $id, operations: {schedule: "0 6 * * 1", timezone: "Europe/Berlin",
                                                maxAttempts: 5, concurrency: 2}}) {
    pipeline { version schedule timezone maxAttempts concurrency timeoutSeconds }
    errors { code message path }
  }
}"""


async def until_done(client: GraphQLClient, backfill_id: str) -> dict[str, Any]:
    """Poll the backfill's progress, as a dashboard would, until every run has ended."""
    async with asyncio.timeout(60):
        while True:
            data = await client.data(PROGRESS, {"id": backfill_id})
            progress: dict[str, Any] = data["backfill"]["progress"]
            if progress["done"]:
                return progress
            await asyncio.sleep(0.2)


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


async def test_a_backfill_runs_one_partition_each(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    client = GraphQLClient(server, token)
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(10))
    pipeline = await flows.define_pipeline(
        client, csv_path, factories.orders_spec("backfilled", "append"), "backfilled"
    )
    variables: dict[str, Any] = {
        "id": pipeline,
        "from": "2026-03-01T00:00:00Z",
        "to": "2026-03-04T00:00:00Z",
    }
    unsafe = (await client.data(BACKFILL, variables))["backfill"]
    assert unsafe["backfill"] is None
    assert unsafe["errors"][0]["code"] == "BACKFILL_MODE_UNSAFE"
    assert unsafe["errors"][0]["path"] == ["allowUnsafeMode"]
    assert "mode append" in unsafe["errors"][0]["message"]
    variables["unsafe"] = True
    created = (await client.data(BACKFILL, variables))["backfill"]
    assert created["errors"] == []
    assert created["backfill"]["partitions"] == 3
    backfill_id = created["backfill"]["id"]
    progress = await until_done(client, backfill_id)
    assert (progress["total"], progress["succeeded"], progress["failed"]) == (3, 3, 0)
    runs = (await client.data(RUNS_OF, {"id": backfill_id}))["runs"]["nodes"]
    assert sorted(run["params"]["partition"] for run in runs) == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-03",
    ]
    naive = {**variables, "from": "2026-03-01T00:00:00"}
    refused = (await client.data(BACKFILL, naive))["backfill"]
    assert refused["errors"][0]["code"] == "INVALID_INPUT"
    assert refused["errors"][0]["path"] == ["from"]


async def test_operational_settings_change_without_a_new_version(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    client = GraphQLClient(server, token)
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(2))
    pipeline = await flows.define_pipeline(
        client, csv_path, factories.orders_spec("operated"), "operated"
    )
    shown = (await client.data(OPERATIONS, {"id": pipeline}))["updatePipeline"]
    assert shown["errors"] == []
    assert shown["pipeline"] == {
        "version": 1,
        "schedule": "0 6 * * 1",
        "timezone": "Europe/Berlin",
        "maxAttempts": 5,
        "concurrency": 2,
        "timeoutSeconds": 21600,
    }
