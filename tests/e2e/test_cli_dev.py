"""`dataflow dev --demo` as a new user runs it: it answers /healthz, and its demo
pipeline runs through GraphQL with the printed admin credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.bootstrap import (
    DEMO_PIPELINE,
    DEMO_ROWS,
    DEMO_SEED,
    DEMO_TABLE,
    DEMO_YEAR,
    DEV_ADMIN_EMAIL,
    DEV_ADMIN_PASSWORD,
)
from app.etl.sample import orders_frame
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, free_port, wait_until_healthy

if TYPE_CHECKING:
    from collections.abc import Iterator

PIPELINES = "{ pipelines(first: 50) { nodes { id name } } }"
DEMO_STATE = """
{
  pipelines(first: 50) { nodes { name lastRun { status rowsWritten } } }
  datasets { name rowCount members { name kind } }
}"""
PREVIEW = """
query($table: String!) {
  tablePreview(table: $table, limit: 5) { columns { name type } rows rowCount }
}"""


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`dataflow dev --demo` in a fresh folder, as the README's quick start runs it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The session's environment holds no settings (tests/conftest.py scrubs them), so
    # the server starts on the embedded backends and the default admin, as on a laptop.
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data")}
    executable = str(Path(sys.executable).parent / "dataflow")
    log = tmp_path / "dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [executable, "dev", "--demo", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(url, process, log)
            yield url, log
        finally:
            process.terminate()
            process.wait(timeout=30)


async def admin(url: str) -> GraphQLClient:
    login = await GraphQLClient(url).data(
        ops.LOGIN, {"email": DEV_ADMIN_EMAIL, "password": DEV_ADMIN_PASSWORD}
    )
    return GraphQLClient(url, login["login"]["token"])


async def test_dev_demo_is_loaded_and_queryable_when_the_server_answers(
    dev_server: tuple[str, Path],
) -> None:
    # The README's Analytics example asks the dataset `orders_clean` right after start:
    # the demo pipeline declares it, and its first run has loaded it before /healthz.
    url, log = dev_server
    state = await (await admin(url)).data(DEMO_STATE)
    demo = next(p for p in state["pipelines"]["nodes"] if p["name"] == DEMO_PIPELINE)
    dataset = next(d for d in state["datasets"] if d["name"] == DEMO_TABLE)

    assert demo["lastRun"]["status"] == "SUCCEEDED"
    assert dataset["rowCount"] == demo["lastRun"]["rowsWritten"] > 0
    members = {member["name"]: member["kind"] for member in dataset["members"]}
    assert members == {
        "order_ts": "TIME",
        "country": "DIMENSION",
        "category": "DIMENSION",
        "revenue": "MEASURE",
        "orders": "MEASURE",
    }
    assert f"loaded {demo['lastRun']['rowsWritten']:,} orders of {DEMO_YEAR}" in log.read_text()


def test_the_demo_orders_are_of_the_year_the_start_message_names() -> None:
    years = orders_frame(DEMO_ROWS, seed=DEMO_SEED)["order_ts"].dt.year().unique()
    assert years.to_list() == [DEMO_YEAR]


async def test_dev_demo_serves_and_runs_the_demo_pipeline(dev_server: tuple[str, Path]) -> None:
    url, log = dev_server
    client = await admin(url)
    pipelines = (await client.data(PIPELINES))["pipelines"]["nodes"]
    demo = next(p for p in pipelines if p["name"] == DEMO_PIPELINE)
    run = await flows.wait_for_end(client, await flows.trigger(client, demo["id"]))
    preview = (await client.data(PREVIEW, {"table": DEMO_TABLE}))["tablePreview"]

    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["rowsRead"] == DEMO_ROWS
    assert run["rowsWritten"] + run["rowsFiltered"] == DEMO_ROWS
    assert 0 < run["rowsFiltered"] < DEMO_ROWS
    assert preview["rowCount"] == run["rowsWritten"]
    assert len(preview["rows"]) == 5
    assert "revenue" in [column["name"] for column in preview["columns"]]
    assert "DataFlow is running at" in log.read_text()
