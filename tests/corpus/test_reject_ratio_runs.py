"""A run that rejects every row (or more than `max_reject_ratio`) fails through the API
with CONTRACT_VIOLATION, on both warehouses: the table keeps its rows, the run its
rejects; a source without rows is not a run that rejected them all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from app.etl.warehouse import open_warehouse
from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings

GOOD = factories.orders_rows(8)


@pytest.fixture(params=["duckdb", "postgres"])
def settings(request: pytest.FixtureRequest, embedded_settings: Settings) -> Settings:
    """The embedded server, its warehouse DuckDB or the test PostgreSQL."""
    if request.param == "duckdb":
        return embedded_settings
    warehouse_url: str = request.getfixturevalue("pg_url")
    return embedded_settings.model_copy(update={"warehouse_url": warehouse_url})


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture
async def operator(server: str, settings: Settings) -> GraphQLClient:
    _, token = await factories.make_user(settings, Role.OPERATOR)
    return GraphQLClient(server, token)


async def table_ids(settings: Settings, table: str) -> list[int]:
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        return sorted((await warehouse.read_table(table))["order_id"].to_list())
    finally:
        await warehouse.close()


async def rejects_of(settings: Settings, run_id: str) -> list[tuple[Any, ...]]:
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        return (await warehouse.read_rejects(run_id)).select("source", "row_number").rows()
    finally:
        await warehouse.close()


async def load(
    client: GraphQLClient, path: Path, spec: dict[str, Any], name: str
) -> dict[str, Any]:
    pipeline = await flows.define_pipeline(client, path, spec, factories.unique(name))
    return await flows.wait_for_end(client, await flows.trigger(client, pipeline))


def replace_spec(table: str, contract: dict[str, Any]) -> dict[str, Any]:
    return {"destination": {"table": table, "mode": "replace"}, "contract": contract}


async def test_a_wrong_delimiter_fails_the_run_and_keeps_the_table(
    operator: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    table = factories.unique("ratio")
    spec = replace_spec(table, {"required": ["order_id"]})
    first = await load(operator, factories.write_csv(tmp_path, GOOD), spec, "good")
    assert first["status"] == "SUCCEEDED"
    before = await table_ids(settings, table)
    assert len(before) == 8

    # The right file read with the wrong delimiter: one column, every row without an id.
    semicolons = [row.replace(",", ";") for row in GOOD]
    header = factories.ORDERS_HEADER.replace(",", ";")
    bad = factories.write_csv(tmp_path, semicolons, header=header)
    run = await load(operator, bad, spec, "bad")

    assert run["status"] == "FAILED"
    assert run["error"]["code"] == "CONTRACT_VIOLATION"
    assert "rejected every row it read (8 of 8" in run["error"]["message"]
    assert await table_ids(settings, table) == before
    kept = await rejects_of(settings, run["id"])
    assert kept == [(bad.name, line) for line in range(2, 10)]


async def test_a_run_over_its_reject_ratio_fails_under_it_succeeds(
    operator: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    table = factories.unique("ratio")
    rows = [*GOOD, "9,paid", "10,paid,3,n/a"]  # 2 of 10 rows bad: 20 %
    path = factories.write_csv(tmp_path, rows)
    contract = {"columns": {"unit_price": "Float64"}, "max_reject_ratio": 0.1}

    over = await load(operator, path, replace_spec(table, contract), "over")
    assert over["status"] == "FAILED"
    assert over["error"]["code"] == "CONTRACT_VIOLATION"
    assert "20.0% of the rows" in over["error"]["message"]
    assert "max_reject_ratio is 0.1" in over["error"]["message"]

    under = await load(
        operator, path, replace_spec(table, {**contract, "max_reject_ratio": 0.25}), "under"
    )
    assert under["status"] == "SUCCEEDED"
    assert (under["rowsRead"], under["rowsWritten"], under["rowsRejected"]) == (10, 8, 2)


async def test_a_source_without_rows_is_not_all_rows_rejected(
    operator: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    table = factories.unique("ratio")
    spec = replace_spec(table, {"required": ["order_id"]})
    run = await load(operator, factories.write_csv(tmp_path, []), spec, "empty")
    assert run["status"] == "SUCCEEDED"
    assert (run["rowsRead"], run["rowsRejected"]) == (0, 0)
    assert await table_ids(settings, table) == []
