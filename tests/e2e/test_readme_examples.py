"""The README's examples, run as written against `dataflow dev --demo`, as a new user would.

Each example is taken from README.md by its marker, an HTML comment invisible on GitHub
(`<!-- readme-test: NAME -->`) placed just before the fenced block; a missing marker or
block fails, so README and product cannot drift apart unnoticed.

One substitution only: the server's URL. The README names `http://127.0.0.1:8000`, the
default of `dataflow dev`; these tests run their own server on a free port (port 8000
may be in use on a developer's machine or by a parallel test session, and a test must
neither skip nor fail for that), so that URL, and nothing else, is replaced by the test
server's. The subscription example's run id placeholder ("…") is filled in with a real
run's id, as the README says to.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
import yaml

from app.bootstrap import DEMO_PIPELINE, DEMO_ROWS, DEMO_TABLE, DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, free_port, wait_until_healthy

if TYPE_CHECKING:
    from collections.abc import Iterator

README = Path(__file__).resolve().parents[2] / "README.md"
README_URL = "http://127.0.0.1:8000"
DATAFLOW = str(Path(sys.executable).parent / "dataflow")
# The README's runEvents example leaves the run id for the reader to fill in.
RUN_ID_PLACEHOLDER = '"…"'
PIPELINES = "{ pipelines(first: 50) { nodes { id name } } }"
PREVIEW = """
query($table: String!) {
  tablePreview(table: $table, limit: 5) { columns { name type } rows rowCount }
}"""
# Printed after the worked example: what a user would `echo` to see its variables.
SHOW_VARIABLES = 'printf "%s=%s\\n" TOKEN "$TOKEN" SOURCE "$SOURCE" PIPELINE "$PIPELINE" RUN "$RUN"'


def readme_block(name: str) -> str:
    """The fenced block right after `<!-- readme-test: NAME -->` in README.md."""
    pattern = re.compile(
        rf"^<!-- readme-test: {re.escape(name)} -->\n\s*```[a-z]*\n(.*?)^```$",
        re.MULTILINE | re.DOTALL,
    )
    found = pattern.findall(README.read_text())
    assert len(found) == 1, f"README.md needs one fenced block marked readme-test: {name}"
    block: str = found[0]
    return block


@dataclass(frozen=True)
class Demo:
    url: str
    home: Path

    @property
    def data_dir(self) -> Path:
        return self.home / ".dataflow"  # the default DATA_DIR, under the working folder


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`uv run dataflow dev --demo` as the quick start runs it: in a fresh folder, with
    the default data dir and admin (the session's environment holds no settings, see
    tests/environment.py), on a free port instead of 8000 (see the module docstring)."""
    home = tmp_path_factory.mktemp("readme")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [DATAFLOW, "dev", "--demo", "--port", str(port)],
            cwd=home,
            env=dict(os.environ),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(url, process, log)
            yield Demo(url=url, home=home)
        finally:
            process.terminate()
            process.wait(timeout=30)


async def admin(demo: Demo) -> GraphQLClient:
    login = await GraphQLClient(demo.url).data(
        ops.LOGIN, {"email": DEV_ADMIN_EMAIL, "password": DEV_ADMIN_PASSWORD}
    )
    return GraphQLClient(demo.url, login["login"]["token"])


def run_shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """bash, stopping at the first failing command so a failure says where it is."""
    path = cwd / "example.sh"
    path.write_text(script)
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", str(path)],
        cwd=cwd,
        env={**os.environ, "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_worked_example_runs_as_written(demo: Demo, tmp_path: Path) -> None:
    # First in this module: it creates the source `orders_csv`, which the pipeline
    # file then finds unchanged, as for a reader going down the README.
    block = readme_block("worked-example")
    assert README_URL in block
    script = block.replace(README_URL, demo.url) + SHOW_VARIABLES + "\n"

    done = run_shell(script, tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    variables = dict(line.split("=", 1) for line in lines[-4:])
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", variables["TOKEN"])  # a JWT
    for name in ("SOURCE", "PIPELINE", "RUN"):
        assert re.fullmatch(r"[0-9a-f-]{36}", variables[name]), variables
    # Before the variables: step 5's last answer, then step 6's.
    run = json.loads(lines[-6])["data"]["run"]
    preview = json.loads(lines[-5])["data"]["tablePreview"]
    assert run["status"] == "SUCCEEDED", run
    assert run["error"] is None
    assert run["rowsRead"] == DEMO_ROWS
    assert 0 < run["rowsWritten"] < DEMO_ROWS
    assert run["rowsWritten"] + run["rowsFiltered"] == DEMO_ROWS
    assert len(preview["rows"]) == 3
    assert "revenue" in [column["name"] for column in preview["columns"]]
    assert all(row[columns(preview).index("quantity")] >= 5 for row in preview["rows"])


def columns(result: dict[str, Any]) -> list[str]:
    return [column["name"] for column in result["columns"]]


async def test_the_analytics_example_answers_from_the_demo_data(demo: Demo) -> None:
    client = await admin(demo)
    query = readme_block("analytics")

    body = await client.post(query)

    assert "errors" not in body, body["errors"]
    result = body["data"]["analytics"]
    assert result["rowCount"] == len(result["rows"]) > 0
    assert {"country", "revenue"} <= set(columns(result))
    assert result["rowCount"] == expected_groups(demo.data_dir / "demo" / "orders.csv")


def expected_groups(csv: Path) -> int:
    """(month, country) groups of toy orders in the README's window, from the CSV."""
    orders = pl.read_csv(csv, try_parse_dates=True)
    window = orders.filter(
        (pl.col("status") != "cancelled")
        & (pl.col("category") == "toys")
        & pl.col("order_ts").is_between(datetime(2024, 1, 1), datetime(2024, 7, 1), "left")
    )
    return window.select(pl.col("order_ts").dt.month(), "country").n_unique()


async def test_the_run_events_example_streams_a_run_to_its_end(demo: Demo) -> None:
    client = await admin(demo)
    pipelines = (await client.data(PIPELINES))["pipelines"]["nodes"]
    pipeline = next(p for p in pipelines if p["name"] == DEMO_PIPELINE)
    run_id = await flows.trigger(client, pipeline["id"])
    block = readme_block("run-events")
    assert block.count(RUN_ID_PLACEHOLDER) == 1

    messages = await client.subscribe(block.replace(RUN_ID_PLACEHOLDER, f'"{run_id}"'))

    events = flows.events_of(messages)
    flows.assert_well_formed_stream(events, "SUCCEEDED")


async def test_the_pipeline_file_example_applies_and_writes_its_own_table(
    demo: Demo, tmp_path: Path
) -> None:
    client = await admin(demo)
    before = (await client.data(PREVIEW, {"table": DEMO_TABLE}))["tablePreview"]
    block = readme_block("pipeline-file")
    document = yaml.safe_load(block)
    name, table = document["name"], document["destination"]["table"]
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / f"{name}.yaml").write_text(block)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / ".config"),
        "DATAFLOW_URL": demo.url,
        "DATAFLOW_TOKEN": str(client.token),
    }

    applied = await asyncio.to_thread(
        subprocess.run,
        [DATAFLOW, "pipelines", "apply", "-f", "pipelines/"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert applied.returncode == 0, applied.stdout + applied.stderr
    # Its own pipeline and table, not the demo's: running it leaves the demo's as it was.
    assert name != DEMO_PIPELINE
    assert table != DEMO_TABLE
    pipelines = (await client.data(PIPELINES))["pipelines"]["nodes"]
    pipeline = next(p for p in pipelines if p["name"] == name)
    run = await flows.wait_for_end(client, await flows.trigger(client, pipeline["id"]))
    assert run["status"] == "SUCCEEDED", run["error"]
    written = (await client.data(PREVIEW, {"table": table}))["tablePreview"]
    assert written["rowCount"] == run["rowsWritten"] > 0
    after = (await client.data(PREVIEW, {"table": DEMO_TABLE}))["tablePreview"]
    assert after["rowCount"] == before["rowCount"]
