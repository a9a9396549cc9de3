"""Run ids as people type them: tables show the first 8 characters, and every command
that takes a run id takes a unique prefix of it (resolved by the server)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from tests.cli.test_runs import define
from tests.factories import orders_rows

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cli.conftest import Dataflow, Server


def finished_run(dataflow: Dataflow, server: Server, tmp_path: Path) -> tuple[str, str]:
    """A pipeline's name and the id of its one succeeded run."""
    name, _ = define(dataflow, server, tmp_path, orders_rows(4))
    run = dataflow.as_admin("runs", "trigger", name, "--follow")
    assert run.code == 0, run.stderr
    return name, run.stdout.strip()


def copy_run(server: Server, run_id: str, new_id: str) -> None:
    """Another run of the same pipeline whose id is `new_id`: two ids with a common
    start, which random ids would take hundreds of runs to give."""
    with sqlite3.connect(server.metadata_db) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        others = [c for c in columns if c not in {"id", "idempotency_key"}]
        listed = ", ".join(others)
        db.execute(
            f"INSERT INTO runs (id, {listed}) SELECT ?, {listed} FROM runs WHERE id = ?",  # noqa: S608  (column names from the table itself)
            (new_id, run_id),
        )


def test_the_runs_table_shows_short_ids_and_json_the_full_ones(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    name, run_id = finished_run(dataflow, server, tmp_path)

    table = dataflow.as_admin("runs", "list", "--pipeline", name, COLUMNS="80")
    listed = dataflow.as_admin("runs", "list", "--pipeline", name, "--json")

    assert table.code == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if run_id[:8] in line)
    assert run_id[8:] not in table.stdout  # not wrapped onto further lines either
    assert name[:8] in row
    assert [run["id"] for run in listed.json()] == [run_id]


def test_show_logs_cancel_and_retry_take_a_unique_prefix(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    _, run_id = finished_run(dataflow, server, tmp_path)
    prefix = run_id[:8]

    shown = dataflow.as_admin("runs", "show", prefix, "--json")
    upper = dataflow.as_admin("runs", "show", prefix.upper(), "--json")
    logs = dataflow.as_admin("runs", "logs", prefix, "--json")
    cancel = dataflow.as_admin("runs", "cancel", prefix)
    retry = dataflow.as_admin("runs", "retry", prefix)

    assert shown.code == 0, shown.stderr
    assert shown.json()["id"] == run_id
    assert upper.json()["id"] == run_id
    assert logs.code == 0, logs.stderr
    assert {line.split('"runId": "')[1][:36] for line in logs.stdout.splitlines()} == {run_id}
    # Both reached the run itself: the API refused them for its state, not its id.
    assert cancel.code == 1
    assert "INVALID_TRANSITION:" in cancel.stderr
    assert retry.code == 1
    assert "INVALID_TRANSITION:" in retry.stderr


def test_an_ambiguous_prefix_lists_the_runs_it_matches(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    name, run_id = finished_run(dataflow, server, tmp_path)
    twin = run_id[:8] + ("0" if run_id[8:9] != "0" else "1") + run_id[9:]
    copy_run(server, run_id, twin)

    ambiguous = dataflow.as_admin("runs", "show", run_id[:8])
    longer = dataflow.as_admin("runs", "show", run_id[:10], "--json")

    assert ambiguous.code == 1
    assert "RUN_ID_AMBIGUOUS:" in ambiguous.stderr
    assert run_id in ambiguous.stderr
    assert twin in ambiguous.stderr
    assert name in ambiguous.stderr
    assert "Traceback" not in ambiguous.stderr
    assert longer.code == 0, longer.stderr
    assert longer.json()["id"] == run_id


@pytest.mark.parametrize("command", ["show", "logs", "cancel", "retry"])
def test_a_prefix_that_matches_nothing_is_run_not_found_naming_it(
    dataflow: Dataflow, command: str
) -> None:
    result = dataflow.as_admin("runs", command, "0000ffff-00")

    assert result.code == 1
    assert "RUN_NOT_FOUND: no run id starts with '0000ffff-00'" in result.stderr


@pytest.mark.parametrize("prefix", ["abc", "53a_", "5%3a", "zzzzzz", "ab' OR '1'='1"])
def test_a_prefix_that_cannot_be_a_run_id_is_refused(dataflow: Dataflow, prefix: str) -> None:
    """Too short, or characters no id has (LIKE's wildcards among them): refused, never
    matched."""
    result = dataflow.as_admin("runs", "show", prefix)

    assert result.code == 1
    assert "INVALID_INPUT:" in result.stderr
    assert "is not a run id prefix" in result.stderr
