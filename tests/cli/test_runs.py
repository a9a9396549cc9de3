"""`dataflow runs trigger --follow` and friends against a real server: live progress, and
an exit code that says how the run ended."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

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


def define(dataflow: Dataflow, server: Server, tmp_path: Path, rows: list[str]) -> tuple[str, str]:
    """A pipeline over a CSV of `rows`; returns its name and the CSV's path in the data dir."""
    name = unique("runs")
    csv = server.write_csv(rows)
    path = tmp_path / f"{name}.yaml"
    path.write_text(PIPELINE.format(name=name, csv=csv))
    applied = dataflow.as_admin("pipelines", "apply", "-f", str(path))
    assert applied.code == 0, applied.stderr
    return name, csv


def stored_run(server: Server, run_id: str) -> tuple[str, int, int, str | None]:
    with sqlite3.connect(server.metadata_db) as db:
        row = db.execute(
            "SELECT status, rows_read, rows_written, error_code FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
    assert row is not None, f"run {run_id} is not in the database"
    return row[0], row[1], row[2], row[3]


def test_trigger_follow_shows_progress_and_exits_0_when_the_run_succeeds(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    name, _ = define(dataflow, server, tmp_path, orders_rows(40))  # 10 of them cancelled

    result = dataflow.as_admin("runs", "trigger", name, "--follow")

    assert result.code == 0, result.stderr
    run_id = result.stdout.strip()
    assert "extract started" in result.stderr
    assert "extract finished: 40 rows read" in result.stderr
    assert "load finished: 30 rows written" in result.stderr
    assert "40 rows read, 30 written" in result.stderr  # the progress bar's last state
    assert "rows/s" in result.stderr
    assert f"run {run_id} SUCCEEDED" in result.stderr
    assert stored_run(server, run_id) == ("succeeded", 40, 30, None)


def test_a_failing_run_exits_1_with_its_error_code(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    rows = orders_rows(5)
    rows[2] = "3,paid,1,1.5,unexpected,extra"  # line 4 of the file (the header is line 1)
    name, _ = define(dataflow, server, tmp_path, rows)

    result = dataflow.as_admin("runs", "trigger", name, "--follow")

    assert result.code == 1
    run_id = result.stdout.strip()
    assert f"run {run_id} FAILED" in result.stderr
    assert "SOURCE_MALFORMED:" in result.stderr
    assert "line 4" in result.stderr
    assert stored_run(server, run_id)[0] == "failed"
    assert stored_run(server, run_id)[3] == "SOURCE_MALFORMED"


def test_retry_follow_runs_the_next_attempt_to_its_end(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    rows = orders_rows(8)
    name, csv = define(dataflow, server, tmp_path, ["1,paid,1,1.5", "2,paid,1,1.5,extra"])
    failed = dataflow.as_admin("runs", "trigger", name, "--follow")
    assert failed.code == 1
    run_id = failed.stdout.strip()
    (server.data_dir / csv).write_text("order_id,status,quantity,unit_price\n" + "\n".join(rows))

    result = dataflow.as_admin("runs", "retry", run_id, "--follow")

    assert result.code == 0, result.stderr
    assert result.stdout.strip() == run_id
    assert f"run {run_id} SUCCEEDED" in result.stderr
    assert "SOURCE_MALFORMED" not in result.stderr  # only the new attempt is shown
    assert stored_run(server, run_id) == ("succeeded", 8, 6, None)


def test_runs_list_show_and_logs_tell_the_same_story(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    name, _ = define(dataflow, server, tmp_path, orders_rows(4))
    run_id = dataflow.as_admin("runs", "trigger", name, "--follow").stdout.strip()

    listed = dataflow.as_admin("runs", "list", "--pipeline", name, "--json")
    table = dataflow.as_admin("runs", "list", "--pipeline", name, "--status", "succeeded")
    shown = dataflow.as_admin("runs", "show", run_id, "--json")
    card = dataflow.as_admin("runs", "show", run_id)
    logs = dataflow.as_admin("runs", "logs", run_id)
    followed = dataflow.as_admin("runs", "logs", run_id, "--follow", "--json")
    cancel = dataflow.as_admin("runs", "cancel", run_id)

    assert [run["id"] for run in listed.json()] == [run_id]
    assert run_id[:8] in table.stdout
    assert shown.json()["status"] == "SUCCEEDED"
    assert shown.json()["rowsWritten"] == 3
    assert "4 / 3" in card.stdout  # rows read / written
    kinds = [line.split()[2] for line in logs.stdout.splitlines()]
    assert kinds[:2] == ["run_queued", "run_started"]
    assert kinds[-1] == "run_finished"
    assert "load finished: 3 rows written" in logs.stdout
    # Following a run that has ended replays its events and exits as the run ended.
    assert followed.code == 0
    assert len(followed.stdout.splitlines()) == len(kinds)
    assert cancel.code == 1
    assert "INVALID_TRANSITION:" in cancel.stderr


def test_an_unknown_pipeline_is_a_typed_error(dataflow: Dataflow) -> None:
    result = dataflow.as_admin("runs", "trigger", "no_such_pipeline", "--follow")

    assert result.code == 1
    assert "PIPELINE_NOT_FOUND: no pipeline is named 'no_such_pipeline'" in result.stderr
