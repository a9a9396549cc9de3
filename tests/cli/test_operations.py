"""`dataflow report` against the runs in the database, and `dataflow backfill --wait`."""

from __future__ import annotations

import sqlite3
import statistics
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from tests.factories import orders_rows, unique

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cli.conftest import Dataflow, Server

PIPELINE = """\
name: {name}
source: {{name: {name}_src, kind: csv, uri: {csv}}}
steps:
  - filter: "status <> 'cancelled'"
destination: {{table: {name}, mode: append}}
"""


def define(dataflow: Dataflow, server: Server, tmp_path: Path, rows: list[str]) -> str:
    name = unique("ops")
    path = tmp_path / f"{name}.yaml"
    path.write_text(PIPELINE.format(name=name, csv=server.write_csv(rows)))
    applied = dataflow.as_admin("pipelines", "apply", "-f", str(path))
    assert applied.code == 0, applied.stderr
    return name


def runs_in_database(server: Server, pipeline: str) -> list[dict[str, Any]]:
    with sqlite3.connect(server.metadata_db) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT r.status, r.started_at, r.finished_at, r.rows_written, r.rows_rejected,"
            " r.backfill_id, r.scheduled_for"
            " FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE p.name = ?",
            (pipeline,),
        ).fetchall()
    return [dict(row) for row in rows]


def expected_report(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's numbers, computed here from the stored runs: durations and rows of
    succeeded runs, percentiles interpolated linearly between the closest ranks."""
    ok = [run for run in runs if run["status"] == "succeeded"]
    ended = [run for run in runs if run["status"] in {"succeeded", "failed", "cancelled"}]
    seconds = sorted(
        (
            datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
        ).total_seconds()
        for run in ok
    )
    cuts = statistics.quantiles(seconds, n=100, method="inclusive") if len(seconds) > 1 else []
    return {
        "runs": len(runs),
        "succeeded": len(ok),
        "failed": sum(run["status"] == "failed" for run in runs),
        "successRate": len(ok) / len(ended) if ended else None,
        "p50DurationSeconds": cuts[49] if cuts else (seconds[0] if seconds else None),
        "p95DurationSeconds": cuts[94] if cuts else (seconds[0] if seconds else None),
        "rowsLoaded": sum(run["rows_written"] for run in ok),
        "rowsRejected": sum(run["rows_rejected"] for run in ok),
    }


def reported(rows: list[dict[str, Any]], pipeline: str) -> dict[str, Any]:
    found = [row for row in rows if row["pipelineName"] == pipeline]
    assert len(found) == 1, f"{pipeline} is not in the report once: {rows}"
    return {key: found[0][key] for key in expected_report([])}


def test_report_json_matches_the_runs_in_the_database(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    good = define(dataflow, server, tmp_path, orders_rows(20))  # 15 pass the filter
    bad_rows = orders_rows(4)
    bad_rows[1] = "2,paid,1,1.5,one,too,many"
    bad = define(dataflow, server, tmp_path, bad_rows)
    assert [dataflow.as_admin("runs", "trigger", good, "--follow").code for _ in range(4)] == [
        0
    ] * 4
    assert [dataflow.as_admin("runs", "trigger", bad, "--follow").code for _ in range(2)] == [1] * 2

    result = dataflow.as_admin("report", "--json")

    assert result.code == 0, result.stderr
    rows = result.json()
    good_expected = expected_report(runs_in_database(server, good))
    assert good_expected["runs"] == 4
    assert good_expected["rowsLoaded"] == 4 * 15
    assert reported(rows, good) == pytest.approx(good_expected, abs=1e-6)
    assert reported(rows, bad) == {
        "runs": 2,
        "succeeded": 0,
        "failed": 2,
        "successRate": 0.0,
        "p50DurationSeconds": None,
        "p95DurationSeconds": None,
        "rowsLoaded": 0,
        "rowsRejected": 0,
    }


def test_report_as_a_table_and_for_a_recent_window(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    name = define(dataflow, server, tmp_path, orders_rows(8))
    assert dataflow.as_admin("runs", "trigger", name, "--follow").code == 0

    table = dataflow.as_admin("report")
    recent = dataflow.as_admin("report", "--since", "1h", "--json")
    bad_window = dataflow.as_admin("report", "--since", "yesterday")

    assert table.code == 0, table.stderr
    line = next(line for line in table.stdout.splitlines() if name in line)
    assert "100%" in line
    assert reported(recent.json(), name)["runs"] == 1
    assert bad_window.code == 2
    assert "is not an age like 30d" in bad_window.stderr


def test_backfill_wait_runs_one_run_per_partition(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    name = define(dataflow, server, tmp_path, orders_rows(4))
    window = ["--from", "2026-01-01", "--to", "2026-01-04", "--step", "day"]

    refused = dataflow.as_admin("backfill", name, *window)
    result = dataflow.as_admin("backfill", name, *window, "--wait", "--allow-unsafe-mode")

    # Mode append would duplicate a partition loaded twice: refused unless said so.
    assert refused.code != 0
    assert "BACKFILL_MODE_UNSAFE" in refused.stderr, refused.stderr
    assert "--allow-unsafe-mode" in refused.stderr or "allowUnsafeMode" in refused.stderr
    assert result.code == 0, result.stderr
    backfill_id = result.stdout.strip()
    assert "3 runs queued" in result.stderr
    runs = runs_in_database(server, name)
    assert {run["backfill_id"] for run in runs} == {backfill_id}
    assert sorted(run["scheduled_for"][:10] for run in runs) == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
    ]
    assert {run["status"] for run in runs} == {"succeeded"}
