"""`dataflow dev --demo` as a new user runs it: it answers /healthz, and its demo
pipeline runs through GraphQL with the printed admin credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.bootstrap import DEMO_PIPELINE, DEMO_ROWS, DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, free_port, wait_until_healthy

if TYPE_CHECKING:
    from collections.abc import Iterator

PIPELINES = "{ pipelines(first: 50) { nodes { id name } } }"
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


async def test_dev_demo_serves_and_runs_the_demo_pipeline(dev_server: tuple[str, Path]) -> None:
    url, log = dev_server
    login = await GraphQLClient(url).data(
        ops.LOGIN, {"email": DEV_ADMIN_EMAIL, "password": DEV_ADMIN_PASSWORD}
    )
    client = GraphQLClient(url, login["login"]["token"])
    pipelines = (await client.data(PIPELINES))["pipelines"]["nodes"]
    demo = next(p for p in pipelines if p["name"] == DEMO_PIPELINE)
    run = await flows.wait_for_end(client, await flows.trigger(client, demo["id"]))
    preview = (await client.data(PREVIEW, {"table": "orders_clean"}))["tablePreview"]

    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["rowsRead"] == DEMO_ROWS
    assert run["rowsWritten"] + run["rowsFiltered"] == DEMO_ROWS
    assert 0 < run["rowsFiltered"] < DEMO_ROWS
    assert preview["rowCount"] == run["rowsWritten"]
    assert len(preview["rows"]) == 5
    assert "revenue" in [column["name"] for column in preview["columns"]]
    assert "DataFlow is running at" in log.read_text()
