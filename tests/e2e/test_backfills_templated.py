"""A backfill over a templated source, end to end through the API (embedded backends):
the pipeline is created over `orders_{partition}.csv` (checked against a sample
partition), backfilled over three days twice, and holds each day's rows once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from app.errors import DataFlowError
from app.models.user import Role
from tests import factories
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings

BACKFILL = """
mutation($id: ID!) {
  backfill(input: {pipelineId: $id, from: "2026-03-01T00:00:00Z", to: "2026-03-04T00:00:00Z"}) {
    backfill { id partitions } errors { code message path }
  }
}"""
PROGRESS = """
query($id: ID!) { backfill(id: $id) { progress { total succeeded failed done } } }"""
PREVIEW = """
query($table: String!) { tablePreview(table: $table, limit: 100) { columns { name } rows } }"""
CREATE_PIPELINE = """
mutation($input: CreatePipelineInput!) {
  createPipeline(input: $input) { pipeline { id } errors { code message path } }
}"""
DAYS = ["2026-03-01", "2026-03-02", "2026-03-03"]


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


def write_days(directory: Path) -> list[tuple[int, str]]:
    """Two orders a day; day 2's file also holds a stray order of day 3 (rejected)."""
    expected = []
    for number, day in enumerate(DAYS):
        lines = ["id,at,value"]
        for hour in (1, 2):
            order = number * 10 + hour
            lines.append(f"{order},{day}T0{hour}:00:00,v{order}")
            expected.append((order, f"v{order}"))
        if number == 1:
            lines.append(f"99,{DAYS[2]}T05:00:00,stray")
        (directory / f"orders_{day}.csv").write_text("\n".join(lines) + "\n")
    return expected


async def until_done(client: GraphQLClient, backfill_id: str) -> dict[str, Any]:
    async with asyncio.timeout(90):
        while True:
            data = await client.data(PROGRESS, {"id": backfill_id})
            progress: dict[str, Any] = data["backfill"]["progress"]
            if progress["done"]:
                return progress
            await asyncio.sleep(0.2)


async def test_a_templated_source_is_backfilled_exactly(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    client = GraphQLClient(server, token)
    expected = write_days(tmp_path)
    table = factories.unique("daily")
    created = await client.data(
        ops.CREATE_SOURCE,
        {
            "input": {
                "name": f"{table}_src",
                "kind": "csv",
                "uri": str(tmp_path / "orders_{partition}.csv"),
            }
        },
    )
    source_id = created["createSource"]["source"]["id"]
    spec = {"destination": {"table": table, "mode": "replace_partition", "partition_column": "at"}}
    pipeline = {"name": table, "sourceId": source_id, "spec": spec}

    unchecked = (await client.data(CREATE_PIPELINE, {"input": pipeline}))["createPipeline"]
    (error,) = unchecked["errors"]
    assert (error["code"], error["path"]) == ("SOURCE_INVALID", ["sampleParams"])
    assert "name a sample partition" in error["message"]
    wrong = {**pipeline, "spec": {"destination": {**spec["destination"], "partition_column": "x"}}}
    sampled = {"sampleParams": {"partition": DAYS[0]}}
    refused = await client.data(CREATE_PIPELINE, {"input": {**wrong, **sampled}})
    assert refused["createPipeline"]["errors"][0]["path"] == ["destination", "partition_column"]
    made = await client.data(CREATE_PIPELINE, {"input": {**pipeline, **sampled}})
    assert made["createPipeline"]["errors"] == []
    pipeline_id = made["createPipeline"]["pipeline"]["id"]

    for _ in range(2):  # a repeated backfill changes nothing
        started = (await client.data(BACKFILL, {"id": pipeline_id}))["backfill"]
        assert started["errors"] == []
        assert started["backfill"]["partitions"] == 3
        progress = await until_done(client, started["backfill"]["id"])
        assert (progress["total"], progress["succeeded"]) == (3, 3)

    preview = (await client.data(PREVIEW, {"table": table}))["tablePreview"]
    names = [column["name"] for column in preview["columns"]]
    rows = sorted((row[names.index("id")], row[names.index("value")]) for row in preview["rows"])
    assert rows == sorted(expected)


async def test_without_a_sample_a_templated_source_is_checked_against_its_contract(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    source = await factories.make_source(embedded_settings, tmp_path / "orders_{partition}.csv")
    contract = {"columns": {"id": "Int64", "at": "Datetime"}}
    destination = {"table": factories.unique("daily"), "mode": "replace_partition"}
    good = {"contract": contract, "destination": {**destination, "partition_column": "at"}}
    bad = {**good, "steps": [{"filter": "amount > 0"}]}

    await factories.make_pipeline(embedded_settings, source, good)
    with pytest.raises(DataFlowError) as raised:
        await factories.make_pipeline(embedded_settings, source, bad)
    assert raised.value.path[:2] == ["steps", "0"]
    assert "`amount` not found" in raised.value.message
