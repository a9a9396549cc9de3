"""An Excel source end to end, through the real server: define it, preview it, run a
pipeline over it into the warehouse, quarantine its bad rows, refuse a bad workbook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server
from tests.unit.etl.sources.workbooks import write_workbook

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings

ROWS = 200
HEADER = ["order_id", "status", "quantity", "unit_price"]
PREVIEW_SOURCE = """mutation($id: ID!) {
  previewSource(id: $id, limit: 3) { preview { columns { name } rows } errors { code } }
}"""
REJECTS = """query($run: ID!) {
  rejects(runId: $run, first: 50) { edges { node { source rowNumber reason raw } } }
}"""


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


@pytest.fixture
async def operator(server: str, embedded_settings: Settings) -> GraphQLClient:
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    return GraphQLClient(server, token)


def order_rows(count: int) -> list[list[Any]]:
    """The factory's orders (cancelled when i % 4 == 0, quantity i % 5 + 1, price i * 1.5)."""
    statuses = ["cancelled", "paid", "shipped", "paid"]
    return [[i, statuses[i % 4], i % 5 + 1, i * 1.5] for i in range(1, count + 1)]


def expected_orders(rows: list[list[Any]]) -> pl.DataFrame:
    """Computed independently of the engine, from the rows the workbook was written with."""
    frame = pl.DataFrame(rows, schema=HEADER, orient="row")
    kept = frame.filter(pl.col("status") != "cancelled")
    return kept.with_columns((pl.col("quantity") * pl.col("unit_price")).alias("revenue"))


async def create_source(client: GraphQLClient, path: Path, **options: Any) -> str:
    created = await client.data(
        ops.CREATE_SOURCE,
        {
            "input": {
                "name": factories.unique("xlsx"),
                "kind": "xlsx",
                "uri": str(path),
                "options": options,
            }
        },
    )
    assert created["createSource"]["errors"] == []
    source_id: str = created["createSource"]["source"]["id"]
    return source_id


async def run_pipeline(client: GraphQLClient, source_id: str, spec: dict[str, Any]) -> str:
    created = await client.data(
        ops.CREATE_PIPELINE,
        {"input": {"name": factories.unique("p"), "sourceId": source_id, "spec": spec}},
    )
    assert created["createPipeline"]["errors"] == []
    return await flows.trigger(client, created["createPipeline"]["pipeline"]["id"])


async def test_a_sheet_previews_then_loads_into_the_warehouse(
    operator: GraphQLClient, embedded_settings: Settings, tmp_path: Path
) -> None:
    rows = order_rows(ROWS)
    sheets = {"Notes": [["read me"]], "Orders": [["Orders export"], HEADER, *rows]}
    path = write_workbook(tmp_path / "orders.xlsx", sheets)
    source_id = await create_source(operator, path, sheet="Orders", skip_rows=1)

    shown = (await operator.data(PREVIEW_SOURCE, {"id": source_id}))["previewSource"]
    assert shown["errors"] == []
    assert [column["name"] for column in shown["preview"]["columns"]] == HEADER
    assert shown["preview"]["rows"] == rows[:3]

    run_id = await run_pipeline(operator, source_id, factories.orders_spec("xlsx_orders"))
    run = await flows.wait_for_end(operator, run_id)
    expected = expected_orders(rows)
    assert run["status"] == "SUCCEEDED", run
    assert run["rowsRead"] == ROWS
    assert run["rowsWritten"] == expected.height
    loaded = await flows.read_table(embedded_settings, "xlsx_orders")
    assert loaded.select(expected.columns).equals(expected)


async def test_rows_breaking_the_contract_are_quarantined_with_their_record(
    operator: GraphQLClient, embedded_settings: Settings, tmp_path: Path
) -> None:
    rows = order_rows(6)
    rows[2][2] = -1  # record 3
    rows[4][2] = 0  # record 5
    path = write_workbook(tmp_path / "checked.xlsx", {"Sheet1": [HEADER, *rows]})
    spec = {
        "contract": {"checks": ["quantity > 0"], "bad_rows": "quarantine"},
        "destination": {"table": "xlsx_checked", "mode": "replace"},
    }
    run_id = await run_pipeline(operator, await create_source(operator, path), spec)
    run = await flows.wait_for_end(operator, run_id)
    assert run["status"] == "SUCCEEDED", run
    assert run["rowsRejected"] == 2
    rejects = (await operator.data(REJECTS, {"run": run_id}))["rejects"]["edges"]
    assert [(r["node"]["source"], r["node"]["rowNumber"]) for r in rejects] == [
        ("checked.xlsx", 3),
        ("checked.xlsx", 5),
    ]
    assert {r["node"]["reason"] for r in rejects} == {"check failed: quantity > 0"}
    loaded = await flows.read_table(embedded_settings, "xlsx_checked")
    assert loaded["order_id"].to_list() == [1, 2, 4, 6]


async def test_a_file_that_is_not_a_workbook_fails_its_run_and_loads_nothing(
    operator: GraphQLClient, embedded_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "export.xlsx"
    path.write_text(",".join(HEADER) + "\n1,paid,2,1.5\n")  # a CSV named .xlsx
    # The pipeline is accepted (the file may be fixed before a run); the run says why.
    run_id = await run_pipeline(
        operator, await create_source(operator, path), factories.orders_spec("xlsx_bad")
    )
    run = await flows.wait_for_end(operator, run_id)
    assert run["status"] == "FAILED"
    assert run["error"]["code"] == "SOURCE_MALFORMED"
    assert run["error"]["message"].startswith("export.xlsx, not a readable Excel workbook")
    with pytest.raises(Exception, match="xlsx_bad"):
        await flows.read_table(embedded_settings, "xlsx_bad")


async def test_a_sheet_the_workbook_lacks_is_refused_with_the_sheets_it_has(
    operator: GraphQLClient, tmp_path: Path
) -> None:
    path = write_workbook(tmp_path / "book.xlsx", {"Sheet1": [HEADER, *order_rows(3)]})
    source_id = await create_source(operator, path, sheet="Orders")
    created = await operator.data(
        ops.CREATE_PIPELINE,
        {
            "input": {
                "name": factories.unique("p"),
                "sourceId": source_id,
                "spec": factories.orders_spec("xlsx_no_sheet"),
            }
        },
    )
    assert created["createPipeline"]["pipeline"] is None
    (error,) = created["createPipeline"]["errors"]
    assert error["code"] == "SOURCE_INVALID"
    assert error["path"][-2:] == ["options", "sheet"]
    assert error["message"].endswith("its sheets are: Sheet1")
