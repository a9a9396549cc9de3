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


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["apply", "dry run"])
@pytest.mark.parametrize(("text", "line", "code"), INVALID)
def test_an_invalid_file_fails_naming_the_file_and_line(
    dataflow: Dataflow,
    server: Server,
    tmp_path: Path,
    text: str,
    line: int,
    code: str,
    dry_run: list[str],
) -> None:
    """A dry run reports what the apply would: the same file, line and code."""
    name = unique("invalid")
    csv = server.write_csv(orders_rows(3))
    path = write(
        tmp_path, "bad.yaml", textwrap.dedent(text).format(name=name, source=name, csv=csv)
    )

    result = dataflow.as_admin("pipelines", "apply", "-f", str(path), *dry_run)

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


def stored_source(server: Server, name: str) -> tuple[str, str] | None:
    with sqlite3.connect(server.metadata_db) as db:
        row = db.execute("SELECT kind, uri FROM sources WHERE name = ?", (name,)).fetchone()
    return None if row is None else (row[0], row[1])


# What a CI check of pipeline files must catch, each in a file whose source is new (so it
# is checked against the source the file declares, which the server does not have yet).
INVALID_FOR_A_DRY_RUN = [
    pytest.param(
        """\
            name: {name}
            source: {{name: {source}, kind: csv, uri: {csv}}}
            steps:
              - filtr: "status <> 'cancelled'"
            destination: {{table: t_{name}, mode: append}}
            """,
        4,
        "UNKNOWN_STEP",
        id="a step typo",
    ),
    pytest.param(
        """\
            name: {name}
            source: {{name: {source}, kind: csv, uri: {csv}}}
            steps:
              - derive:
                  margin: "nosuch * 2"
            destination: {{table: t_{name}, mode: append}}
            """,
        5,
        "EXPRESSION_INVALID",
        id="an unknown column",
    ),
    pytest.param(
        """\
            name: {name}
            source: {{name: {source}, kind: csv, uri: {csv}}}
            steps:
              - filter: "status = 'paid"
            destination: {{table: t_{name}, mode: append}}
            """,
        4,
        "EXPRESSION_INVALID",
        id="an unterminated string",
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
        id="mode upsert",
    ),
]


@pytest.mark.parametrize(("text", "line", "code"), INVALID_FOR_A_DRY_RUN)
def test_a_dry_run_validates_through_the_server_and_exits_1_naming_the_line(
    dataflow: Dataflow, server: Server, tmp_path: Path, text: str, line: int, code: str
) -> None:
    name = unique("dry")
    csv = server.write_csv(orders_rows(3))
    path = write(
        tmp_path, "bad.yaml", textwrap.dedent(text).format(name=name, source=name, csv=csv)
    )

    result = dataflow.as_admin("pipelines", "apply", "-f", str(path), "--dry-run")

    assert result.code == 1, result.stdout + result.stderr
    assert f"pipeline {name}: create" in result.stdout  # the diff, as before
    assert "dry run, nothing changed" in result.stdout
    assert f"{path}:{line}: {code}:" in result.stderr
    assert stored_pipeline(server, name) is None
    assert stored_source(server, name) is None  # its new source was not created either


def test_a_dry_run_of_a_bad_change_to_an_existing_pipeline_fails_and_keeps_it(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    path, names = orders_file(server, tmp_path)
    assert dataflow.as_admin("pipelines", "apply", "-f", str(path)).code == 0
    good = path.read_text()
    other_csv = server.write_csv(orders_rows(2), header="order_id,state")
    path.write_text(
        good.replace("status <> 'cancelled'", "nosuch > 1")
        .replace(names["csv"], other_csv)
        .replace("max_attempts: 2", "max_attempts: 500")
    )

    result = dataflow.as_admin("pipelines", "apply", "-f", str(path), "--dry-run")

    assert result.code == 1
    assert f"pipeline {names['name']}: update (version 1 -> 2)" in result.stdout
    assert f"{path}:13: INVALID_INPUT: max_attempts:" in result.stderr  # the first problem
    stored = stored_pipeline(server, names["name"])
    assert stored is not None
    assert (stored["version"], stored["versions"], stored["max_attempts"]) == (1, 1, 2)
    assert stored_source(server, names["source"]) == ("csv", names["csv"])


def test_a_dry_run_checks_the_new_source_uri_the_file_declares(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    """The spec is checked against the source as the file would leave it: a column that
    the server's copy of the source has, but the file's new uri has not, is refused."""
    path, names = orders_file(server, tmp_path)
    assert dataflow.as_admin("pipelines", "apply", "-f", str(path)).code == 0
    without_status = server.write_csv(["1,2,1.5"], header="order_id,quantity,unit_price")
    path.write_text(path.read_text().replace(names["csv"], without_status))

    result = dataflow.as_admin("pipelines", "apply", "-f", str(path), "--dry-run")

    assert result.code == 1
    assert f"{path}:7: EXPRESSION_INVALID:" in result.stderr  # the filter on `status`
    assert stored_source(server, names["source"]) == ("csv", names["csv"])


def test_a_dry_run_of_valid_files_exits_0_and_the_apply_that_follows_works(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    folder = tmp_path / "pipelines"
    _, names = orders_file(server, folder)
    paid = unique("paid")
    write(folder, "paid.yml", PAID.format(name=paid, source=names["source"], table=unique("t")))

    dry = dataflow.as_admin("pipelines", "apply", "-f", str(folder), "--dry-run")
    applied = dataflow.as_admin("pipelines", "apply", "-f", str(folder))
    dry_again = dataflow.as_admin("pipelines", "apply", "-f", str(folder), "--dry-run", "--json")

    assert dry.code == 0, dry.stderr
    assert "dry run, nothing changed: pipelines: 2 to create" in dry.stdout
    assert dry.stderr == ""
    assert applied.code == 0, applied.stderr
    assert dry_again.code == 0, dry_again.stderr
    assert dry_again.json()["errors"] == []


def test_a_dry_run_needs_the_role_apply_needs(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    email = f"{unique('viewer')}@example.com"
    created = dataflow.as_admin(
        "users", "create", "--email", email, "--password", "a viewer password", "--role", "viewer"
    )
    key = dataflow.as_admin("apikeys", "create", "--name", "v", "--user", email, "--json").json()
    path, _ = orders_file(server, tmp_path)

    result = dataflow(
        "pipelines", "apply", "-f", str(path), "--dry-run", DATAFLOW_TOKEN=key["secret"]
    )

    assert created.code == 0, created.stderr
    assert result.code == 3
    assert "FORBIDDEN" in result.stderr
