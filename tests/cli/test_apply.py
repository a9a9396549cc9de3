"""`dataflow pipelines apply -f`: pipelines and sources from YAML files, by name, against a
real server; what changed is shown, and an invalid file is named with its line."""

from __future__ import annotations

import sqlite3
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

from tests.factories import orders_rows, unique

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cli.conftest import Dataflow, Server

ORDERS = """\
name: {name}
source:
  name: {source}
  kind: csv
  uri: {csv}
steps:
  - filter: "status <> 'cancelled'"
  - derive:
      revenue: "quantity * unit_price"
destination:
  table: {table}
  mode: replace
max_attempts: 2
"""

PAID = """\
name: {name}
source: {source}
steps:
  - filter: "status = 'paid'"
destination: {{table: {table}, mode: append}}
"""


def stored_pipeline(server: Server, name: str) -> dict[str, Any] | None:
    """The pipeline as the server stored it, read from its metadata database."""
    with sqlite3.connect(server.metadata_db) as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "SELECT p.id, p.version, p.spec, p.max_attempts, p.schedule, s.name AS source"
            " FROM pipelines p JOIN sources s ON s.id = p.source_id WHERE p.name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return None
        versions = db.execute(
            "SELECT count(*) FROM pipeline_versions WHERE pipeline_id = ?", (row["id"],)
        ).fetchone()[0]
    return {**dict(row), "versions": versions}


def write(folder: Path, filename: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(text)
    return path


def orders_file(server: Server, folder: Path) -> tuple[Path, dict[str, str]]:
    names = {
        "name": unique("orders"),
        "source": unique("orders_src"),
        "table": unique("orders_t"),
        "csv": server.write_csv(orders_rows(12)),
    }
    return write(folder, "orders.yaml", ORDERS.format(**names)), names


def test_apply_creates_the_pipelines_and_their_source_from_a_folder(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    folder = tmp_path / "pipelines"
    _, names = orders_file(server, folder)
    paid = unique("paid")
    write(folder, "paid.yml", PAID.format(name=paid, source=names["source"], table=unique("t")))

    result = dataflow.as_admin("pipelines", "apply", "-f", str(folder))

    assert result.code == 0, result.stderr
    assert f"source {names['source']}: create" in result.stdout
    assert f"pipeline {names['name']}: create" in result.stdout
    assert f"pipeline {paid}: create" in result.stdout
    assert "applied: 2 created" in result.stdout
    orders, paid_stored = stored_pipeline(server, names["name"]), stored_pipeline(server, paid)
    assert orders is not None
    assert paid_stored is not None
    assert (orders["version"], orders["max_attempts"], orders["source"]) == (
        1,
        2,
        names["source"],
    )
    assert paid_stored["source"] == names["source"]
    assert '"filter": "status = \'paid\'"' in paid_stored["spec"]


def test_reapplying_the_same_files_changes_nothing(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    path, names = orders_file(server, tmp_path)
    assert dataflow.as_admin("pipelines", "apply", "-f", str(path)).code == 0

    again = dataflow.as_admin("pipelines", "apply", "-f", str(path))

    assert again.code == 0, again.stderr
    assert f"source {names['source']}: unchanged" in again.stdout
    assert f"pipeline {names['name']}: unchanged" in again.stdout
    assert "applied: 0 created, 0 updated, 1 unchanged" in again.stdout
    stored = stored_pipeline(server, names["name"])
    assert stored is not None
    assert (stored["version"], stored["versions"]) == (1, 1)


def test_a_changed_step_makes_a_new_version_and_shows_the_diff(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    path, names = orders_file(server, tmp_path)
    assert dataflow.as_admin("pipelines", "apply", "-f", str(path)).code == 0
    path.write_text(path.read_text().replace("status <> 'cancelled'", "quantity >= 3"))

    result = dataflow.as_admin("pipelines", "apply", "-f", str(path))

    assert result.code == 0, result.stderr
    assert f"pipeline {names['name']}: update (version 1 -> 2)" in result.stdout
    assert "-- filter: status <> 'cancelled'" in result.stdout
    assert "+- filter: quantity >= 3" in result.stdout
    assert f"1 updated ({names['name']} v2)" in result.stdout
    stored = stored_pipeline(server, names["name"])
    assert stored is not None
    assert (stored["version"], stored["versions"]) == (2, 2)
    assert "quantity >= 3" in stored["spec"]


def test_an_operations_change_keeps_the_version(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    path, names = orders_file(server, tmp_path)
    assert dataflow.as_admin("pipelines", "apply", "-f", str(path)).code == 0
    changed = path.read_text().replace("max_attempts: 2", "max_attempts: 5")
    path.write_text(changed + 'schedule: "30 6 * * *"\n')

    result = dataflow.as_admin("pipelines", "apply", "-f", str(path))

    assert result.code == 0, result.stderr
    assert "(operations only: same version)" in result.stdout
    assert "maxAttempts: 2 -> 5" in result.stdout
    assert "schedule: - -> 30 6 * * *" in result.stdout
    stored = stored_pipeline(server, names["name"])
    assert stored is not None
    assert (stored["version"], stored["max_attempts"], stored["schedule"]) == (1, 5, "30 6 * * *")


def test_a_dry_run_shows_the_plan_and_changes_nothing(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    path, names = orders_file(server, tmp_path)

    result = dataflow.as_admin("pipelines", "apply", "-f", str(path), "--dry-run")

    assert result.code == 0, result.stderr
    assert f"pipeline {names['name']}: create" in result.stdout
    assert "dry run, nothing changed: pipelines: 1 to create" in result.stdout
    assert stored_pipeline(server, names["name"]) is None


INVALID = [
    pytest.param(
        """\
        name: {name}
        source: {{name: {source}, kind: csv, uri: {csv}}}
        steps:
          - filter: "status <> 'cancelled'"
          - derive:
              revenue: "quantity * unit_price"
              margin: "nosuch * 2"
        destination: {{table: t_{name}, mode: append}}
        """,
        7,
        "EXPRESSION_INVALID",
        id="unknown column in a derive",
    ),
    pytest.param(
        """\
        name: {name}
        source: {{name: {source}, kind: csv, uri: {csv}}}
        steps:
          - filter: "status <> 'cancelled'"
          - pivot: {{on: status}}
        destination: {{table: t_{name}}}
        """,
        5,
        "UNKNOWN_STEP",
        id="unknown step kind",
    ),
    pytest.param(
        """\
        name: {name}
        source: {{name: {source}, kind: csv, uri: {csv}}}
        destination:
          table: t_{name}
          mode: upsert
        """,
        5,
        "SPEC_INVALID",
        id="unknown destination mode",
    ),
    pytest.param(
        """\
        name: {name}
        source: {{name: {source}, kind: csv, uri: {csv}}}
        destination: {{table: t_{name}}}
        timezone: Mars/Olympus_Mons
        """,
        4,
        "INVALID_INPUT",
        id="unknown timezone",
    ),
    pytest.param(
        """\
        name: {name}
        source:
          name: {source}
          kind: csv
          uri: /etc/passwd
        destination: {{table: t_{name}}}
        """,
        5,
        "SOURCE_INVALID",
        id="a source outside the file roots",
    ),
    pytest.param(
        """\
        name: {name}
        source: {{name: {source}, kind: csv, uri: {csv}}}
        destination: {{table: t_{name}}}
        concurrency: many
        """,
        4,
        "FILE_INVALID",
        id="an operation of the wrong type",
    ),
    pytest.param(
        """\
        name: {name}
        source: {{name: {source}, kind: csv, uri: {csv}}}
        steps:
          - filter: "a" b
        """,
        4,
        "YAML_INVALID",
        id="not YAML",
    ),
]


@pytest.mark.parametrize(("text", "line", "code"), INVALID)
def test_an_invalid_file_fails_naming_the_file_and_line(
    dataflow: Dataflow, server: Server, tmp_path: Path, text: str, line: int, code: str
) -> None:
    name = unique("invalid")
    csv = server.write_csv(orders_rows(3))
    path = write(
        tmp_path, "bad.yaml", textwrap.dedent(text).format(name=name, source=name, csv=csv)
    )

    result = dataflow.as_admin("pipelines", "apply", "-f", str(path))

    assert result.code == 1
    assert f"{path}:{line}: {code}:" in result.stderr
    assert stored_pipeline(server, name) is None


def test_one_invalid_file_does_not_stop_the_others(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    _, names = orders_file(server, tmp_path)
    bad = write(tmp_path, "bad.yaml", f"name: {unique('bad')}\nsource: no_such_source\n")

    result = dataflow.as_admin("pipelines", "apply", "-f", str(tmp_path))

    assert result.code == 1
    assert f"{bad}:2: SOURCE_NOT_FOUND:" in result.stderr
    assert stored_pipeline(server, names["name"]) is not None
