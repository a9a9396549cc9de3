"""One read policy for warehouse rows, through the real server over HTTP: a caller's
analytics scope binds `tablePreview`, `datasets { rowCount }` and `rejects` as it binds
`analytics`; the warehouse's own tables are not readable as tables; rejects have an
operator API; `previewPipeline` runs the complete preview (contract, joins, rejects)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import asyncpg
import polars as pl
import pytest

from app.db import session_scope
from app.etl.warehouse.duckdb import duckdb_path, in_place_access
from app.models.user import Role
from app.services.users import get as get_user
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_analytics_server
from tests.unit.analytics.helpers import load, load_orders, make_pipeline_id, orders

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.config import Settings

TABLE_PREVIEW = """query($table: String!, $limit: Int!) {
  tablePreview(table: $table, limit: $limit) { columns { name } rows rowCount }
}"""
DATASETS = "{ datasets { name rowCount } }"
REJECTS = """query($run: ID!, $first: Int, $after: String) {
  rejects(runId: $run, first: $first, after: $after) {
    edges { cursor node { batch source rowNumber reason raw } }
    pageInfo { hasNextPage endCursor }
  }
}"""
PREVIEW_ROWS = """mutation($source: ID!, $spec: JSON!) {
  previewPipeline(input: {sourceId: $source, spec: $spec, limit: 10}) {
    preview { columns { name } rows rowsSampled } errors { code message path }
  }
}"""
PREVIEW_PIPELINE = """mutation($source: ID!, $spec: JSON!) {
  previewPipeline(input: {sourceId: $source, spec: $spec, limit: 10}) {
    preview { columns { name } rows rowsSampled rejects { batch source rowNumber reason raw } }
    errors { code message path }
  }
}"""

# Orders with a tenant column; rows 3 and 5 (lines 4 and 6) break the contract.
ORDERS_CSV = "order_id,country,quantity\n1,DE,2\n2,FR,1\n3,DE,-1\n4,FR,3\n5,FR,0\n6,DE,4\n7,IT,-2\n"


@pytest.fixture
async def server(embedded_settings: Settings) -> AsyncIterator[str]:
    async with live_analytics_server(embedded_settings) as url:
        yield url


async def scoped(settings: Settings, role: Role, scope: dict[str, Any] | None) -> str:
    """A token of a new user with `role` and analytics `scope`."""
    user, token = await factories.make_user(settings, role)
    async with session_scope(settings) as session:
        found = await get_user(session=session, user_id=user.id)
        found.analytics_scope = scope
        session.add(found)
    return token


def error_of(body: dict[str, Any]) -> tuple[str, str]:
    assert body.get("errors"), body
    error = body["errors"][0]
    return error["extensions"]["code"], error["message"]


async def test_a_scoped_viewer_reads_only_rows_within_the_scope_everywhere(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    frame = orders(3_000, seed=5)
    await load_orders(
        embedded_settings, await make_pipeline_id(embedded_settings, tmp_path), frame, "replace"
    )
    await load(embedded_settings, "plain", pl.DataFrame({"id": [1, 2], "note": ["a", "b"]}))
    country = sorted(set(frame["country"]))[0]
    within = frame.filter(pl.col("country") == country).height
    assert 0 < within < frame.height
    viewer = GraphQLClient(
        server, await scoped(embedded_settings, Role.VIEWER, {"country": [country]})
    )
    everyone = GraphQLClient(server, await scoped(embedded_settings, Role.VIEWER, None))

    datasets = {d["name"]: d["rowCount"] for d in (await viewer.data(DATASETS))["datasets"]}
    assert datasets == {"orders": within}
    shown = (await viewer.data(TABLE_PREVIEW, {"table": "orders", "limit": 1000}))["tablePreview"]
    column = [c["name"] for c in shown["columns"]].index("country")
    assert {row[column] for row in shown["rows"]} == {country}
    assert len(shown["rows"]) == min(1000, within)
    assert shown["rowCount"] == within

    # A table without the scoped column cannot be read at all, as analytics refuses it.
    code, message = error_of(await viewer.post(TABLE_PREVIEW, {"table": "plain", "limit": 5}))
    assert code == "FORBIDDEN"
    assert "`country`" in message

    unscoped = await everyone.data(TABLE_PREVIEW, {"table": "orders", "limit": 5})
    assert unscoped["tablePreview"]["rowCount"] == frame.height
    all_datasets = (await everyone.data(DATASETS))["datasets"]
    assert {d["name"]: d["rowCount"] for d in all_datasets} == {"orders": frame.height}
    plain = (await everyone.data(TABLE_PREVIEW, {"table": "plain", "limit": 5}))["tablePreview"]
    assert plain["rowCount"] == 2


async def test_the_warehouses_own_tables_are_not_readable_as_tables(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    admin = GraphQLClient(server, await scoped(embedded_settings, Role.ADMIN, None))
    await quarantining_run(admin, tmp_path, "leak")
    for table in ("_dataflow_rejects", "_dataflow_loads", "_dataflow_watermarks"):
        code, message = error_of(await admin.post(TABLE_PREVIEW, {"table": table, "limit": 5}))
        assert code == "FORBIDDEN", table
        assert table in message
        assert "rejects(runId)" in message


async def quarantining_run(client: GraphQLClient, directory: Path, name: str) -> str:
    path = directory / f"{name}.csv"
    path.write_text(ORDERS_CSV)
    spec = {
        "contract": {"checks": ["quantity > 0"], "bad_rows": "quarantine"},
        "destination": {"table": name, "mode": "replace"},
    }
    pipeline = await flows.define_pipeline(client, path, spec, name)
    run_id = await flows.trigger(client, pipeline)
    run = await flows.wait_for_end(client, run_id)
    assert run["status"] == "SUCCEEDED", run
    return run_id


async def all_rejects(client: GraphQLClient, run_id: str, first: int) -> list[dict[str, Any]]:
    """Every page, following the cursors."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await client.data(REJECTS, {"run": run_id, "first": first, "after": after}))[
            "rejects"
        ]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_rejects_are_an_operator_api_paged_and_scoped(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    operator = GraphQLClient(server, await scoped(embedded_settings, Role.OPERATOR, None))
    run_id = await quarantining_run(operator, tmp_path, "tenants")

    found = await all_rejects(operator, run_id, first=2)
    assert [(r["source"], r["rowNumber"], r["reason"]) for r in found] == [
        ("tenants.csv", 4, "check failed: quantity > 0"),
        ("tenants.csv", 6, "check failed: quantity > 0"),
        ("tenants.csv", 8, "check failed: quantity > 0"),
    ]
    assert [r["raw"] for r in found] == [
        {"order_id": 3, "country": "DE", "quantity": -1},
        {"order_id": 5, "country": "FR", "quantity": 0},
        {"order_id": 7, "country": "IT", "quantity": -2},
    ]
    assert {r["batch"] for r in found} == {0}

    # A scoped operator sees only rejects whose raw row is within the scope.
    german = GraphQLClient(
        server, await scoped(embedded_settings, Role.OPERATOR, {"country": ["DE", "IT"]})
    )
    assert [r["raw"]["order_id"] for r in await all_rejects(german, run_id, first=1)] == [3, 7]
    # A scope on a field the rows do not have hides them all.
    other = GraphQLClient(
        server, await scoped(embedded_settings, Role.OPERATOR, {"region": ["EU"]})
    )
    assert await all_rejects(other, run_id, first=200) == []

    viewer = GraphQLClient(server, await scoped(embedded_settings, Role.VIEWER, None))
    assert error_of(await viewer.post(REJECTS, {"run": run_id}))[0] == "FORBIDDEN"
    missing = "00000000-0000-0000-0000-000000000000"
    assert error_of(await operator.post(REJECTS, {"run": missing}))[0] == "RUN_NOT_FOUND"
    for variables in ({"first": 201}, {"first": 0}, {"after": "not-a-cursor"}):
        code, _ = error_of(await operator.post(REJECTS, {"run": run_id, **variables}))
        assert code == "INVALID_INPUT", variables


async def test_preview_pipeline_runs_the_contract_and_joins(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    operator = GraphQLClient(server, await scoped(embedded_settings, Role.OPERATOR, None))
    orders_path = tmp_path / "orders.csv"
    orders_path.write_text(ORDERS_CSV)
    regions_path = tmp_path / "regions.csv"
    regions_path.write_text("country,region\nDE,central\nFR,west\nIT,south\n")
    created = {}
    for name, path in (("orders_src", orders_path), ("regions", regions_path)):
        payload = (
            await operator.data(
                ops.CREATE_SOURCE, {"input": {"name": name, "kind": "csv", "uri": str(path)}}
            )
        )["createSource"]
        assert payload["errors"] == []
        created[name] = payload["source"]["id"]
    spec = {
        "steps": [{"join": {"source": "regions", "on": ["country"]}}],
        "contract": {"checks": ["quantity > 0"], "bad_rows": "fail"},
        "destination": {"table": "previewed"},
    }
    variables = {"source": created["orders_src"], "spec": spec}
    rows_only = (await operator.data(PREVIEW_ROWS, variables))["previewPipeline"]
    assert rows_only["errors"] == []
    payload = (await operator.data(PREVIEW_PIPELINE, variables))["previewPipeline"]
    assert payload["errors"] == []
    preview = payload["preview"]
    assert rows_only["preview"]["rows"] == preview["rows"]
    assert [c["name"] for c in preview["columns"]] == ["order_id", "country", "quantity", "region"]
    assert sorted(preview["rows"]) == [
        [1, "DE", 2, "central"],
        [2, "FR", 1, "west"],
        [4, "FR", 3, "west"],
        [6, "DE", 4, "central"],
    ]
    assert preview["rowsSampled"] == 7
    # A preview shows the bad rows, whatever `bad_rows` says, and loads nothing.
    assert [(r["rowNumber"], r["reason"], r["batch"]) for r in preview["rejects"]] == [
        (4, "check failed: quantity > 0", None),
        (6, "check failed: quantity > 0", None),
        (8, "check failed: quantity > 0", None),
    ]
    assert preview["rejects"][0]["raw"] == {"order_id": 3, "country": "DE", "quantity": -1}
    code, _ = error_of(await operator.post(TABLE_PREVIEW, {"table": "previewed", "limit": 1}))
    assert code == "TABLE_NOT_FOUND"


async def seq_rows_read(settings: Settings, table: str) -> int:
    """Rows PostgreSQL's sequential scans of `table` have returned, by its statistics."""
    dsn = settings.warehouse_target.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        value = await connection.fetchval(
            "SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables "
            "WHERE schemaname = 'warehouse' AND relname = $1",
            table,
        )
    finally:
        await connection.close()
    return int(value or 0)


async def test_a_postgres_preview_reads_only_limit_rows_from_the_warehouse(
    service_settings: Settings,
) -> None:
    """PostgreSQL counts the rows its scans return; a preview of 1 row of 50,000 must
    not scan them all (before, the API copied the whole table and sliced it)."""
    rows = 50_000
    table = factories.unique("big")
    await load(service_settings, table, pl.DataFrame({"id": range(rows), "v": ["x"] * rows}))
    token = await scoped(service_settings, Role.VIEWER, None)
    before = await seq_rows_read(service_settings, table)
    async with live_analytics_server(service_settings) as url:
        client = GraphQLClient(url, token)
        shown = await client.data(
            TABLE_PREVIEW.replace(" rowCount", ""), {"table": table, "limit": 1}
        )
    assert shown["tablePreview"]["rows"] == [[0, "x"]]
    # A backend reports its statistics when it ends, a moment after the API closed it.
    read = 0
    async with asyncio.timeout(30):
        while read == 0:
            read = await seq_rows_read(service_settings, table) - before
            await asyncio.sleep(0.1)
    assert 0 < read < 1_000


async def test_a_duckdb_preview_reads_only_limit_rows_from_the_warehouse(
    server: str, embedded_settings: Settings
) -> None:
    """A view whose rows past the 500,000th fail to compute: a preview that read the
    whole of it (as before) fails; one whose LIMIT runs in DuckDB never reaches them."""
    with in_place_access(duckdb_path(embedded_settings.warehouse_target)).cursor() as cursor:
        cursor.execute(
            "CREATE VIEW trap AS SELECT i AS id, CASE WHEN i < 500000 THEN 'x' "
            "ELSE error('read past the limit') END AS v FROM range(1000000) t(i)"
        )
    client = GraphQLClient(server, await scoped(embedded_settings, Role.VIEWER, None))
    query = TABLE_PREVIEW.replace(" rowCount", "")
    shown = await client.data(query, {"table": "trap", "limit": 2})
    assert shown["tablePreview"]["rows"] == [[0, "x"], [1, "x"]]


async def test_a_preview_joins_warehouse_tables_as_the_caller_may_read_them(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    await load(
        embedded_settings,
        "regions_table",
        pl.DataFrame({"country": ["DE", "FR", "IT"], "region": ["central", "west", "south"]}),
    )
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS_CSV)
    operator = GraphQLClient(server, await scoped(embedded_settings, Role.OPERATOR, None))
    german = GraphQLClient(
        server, await scoped(embedded_settings, Role.OPERATOR, {"country": ["DE"]})
    )
    created = (
        await operator.data(
            ops.CREATE_SOURCE, {"input": {"name": "orders_src", "kind": "csv", "uri": str(path)}}
        )
    )["createSource"]
    source = created["source"]["id"]
    spec = {
        "steps": [{"join": {"table": "regions_table", "on": ["country"]}}],
        "destination": {"table": "previewed"},
    }

    def regions(payload: dict[str, Any]) -> dict[int, str | None]:
        assert payload["errors"] == [], payload
        return {row[0]: row[3] for row in payload["preview"]["rows"]}

    everything = regions(
        (await operator.data(PREVIEW_ROWS, {"source": source, "spec": spec}))["previewPipeline"]
    )
    assert everything[2] == "west"
    # The join's other side holds only the rows within the caller's scope.
    within = regions(
        (await german.data(PREVIEW_ROWS, {"source": source, "spec": spec}))["previewPipeline"]
    )
    assert within == {
        key: value if value == "central" else None for key, value in everything.items()
    }

    internal = {
        "steps": [{"join": {"table": "_dataflow_rejects", "on": {"order_id": "row_number"}}}],
        "destination": {"table": "previewed"},
    }
    refused = (await operator.data(PREVIEW_ROWS, {"source": source, "spec": internal}))[
        "previewPipeline"
    ]
    assert refused["preview"] is None
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    assert "_dataflow_rejects" in refused["errors"][0]["message"]
