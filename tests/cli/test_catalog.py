"""`dataflow sources …`, `pipelines list|show`, `users disable` and the operator scripts,
against the real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cli.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Dataflow
from tests.factories import orders_rows, unique

if TYPE_CHECKING:
    from tests.cli.conftest import Server


def test_sources_add_list_and_preview(dataflow: Dataflow, server: Server) -> None:
    name = unique("src")
    csv = server.write_csv(orders_rows(3))

    added = dataflow.as_admin("sources", "add", name, "--kind", "csv", "--uri", csv)
    listed = dataflow.as_admin("sources", "list", "--json")
    preview = dataflow.as_admin("sources", "preview", name, "--limit", "2", "--json")
    table = dataflow.as_admin("sources", "preview", name)

    assert added.code == 0, added.stderr
    assert f"source {name} created" in added.stderr
    assert [(s["kind"], s["uri"]) for s in listed.json() if s["name"] == name] == [("csv", csv)]
    assert [c["name"] for c in preview.json()["columns"]] == [
        "order_id",
        "status",
        "quantity",
        "unit_price",
    ]
    assert preview.json()["rows"] == [[1, "paid", 2, 1.5], [2, "shipped", 3, 3.0]]
    assert "3 rows read" in table.stdout
    assert "shipped" in table.stdout


def test_a_bad_source_option_is_a_usage_error(dataflow: Dataflow) -> None:
    result = dataflow.as_admin(
        "sources", "add", "x", "--kind", "csv", "--uri", "a.csv", "-o", "oops"
    )

    assert result.code == 2
    assert "'oops' is not key=value" in result.stderr


def test_show_yaml_is_a_file_that_applies_unchanged(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    name = unique("shown")
    source = f"{name}_src"
    csv = server.write_csv(orders_rows(3))
    created = dataflow.as_admin("sources", "add", source, "--kind", "csv", "--uri", csv)
    assert created.code == 0, created.stderr
    path = tmp_path / "p.yaml"
    path.write_text(
        f"name: {name}\nsource: {source}\nsteps: [{{filter: 'quantity > 1'}}]\n"
        f"destination: {{table: {name}}}\nconcurrency: 2\n"
    )
    assert dataflow.as_admin("pipelines", "apply", "-f", str(path)).code == 0

    shown = dataflow.as_admin("pipelines", "show", name, "--yaml")
    path.write_text(shown.stdout)
    again = dataflow.as_admin("pipelines", "apply", "-f", str(path))
    listed = dataflow.as_admin("pipelines", "list", "--json")
    table = dataflow.as_admin("pipelines", "show", name)

    assert f"uri: {csv}" in shown.stdout
    assert "concurrency: 2" in shown.stdout
    assert again.code == 0, again.stderr
    assert f"pipeline {name}: unchanged" in again.stdout
    assert f"source {source}: unchanged" in again.stdout
    assert [p["version"] for p in listed.json() if p["name"] == name] == [1]
    assert "quantity > 1" in table.stdout


def test_users_disable_locks_the_account_out(
    dataflow: Dataflow, server: Server, tmp_path: Path
) -> None:
    email = f"{unique('leaver')}@example.com"
    password = "leaver-password-1"
    made = dataflow.as_admin("users", "create", "--email", email, "--password", password)
    assert made.code == 0, made.stderr
    assert dataflow("login", "--email", email, "--password", password).code == 0

    # The admin works from another home: this one holds the leaver's stored login.
    (tmp_path / "admin-home").mkdir()
    admin = Dataflow(server, tmp_path / "admin-home")
    disabled = admin.as_admin("users", "disable", email)
    stored_login = dataflow("sources", "list")
    again = dataflow("login", "--email", email, "--password", password)

    assert disabled.code == 0, disabled.stderr
    assert stored_login.code == 3
    assert again.code == 3


def test_users_disable_db_writes_to_the_metadata_database(
    dataflow: Dataflow, server: Server
) -> None:
    email = f"{unique('offline')}@example.com"
    password = "offline-password-1"
    made = dataflow.as_admin("users", "create", "--email", email, "--password", password)
    assert made.code == 0, made.stderr

    disabled = dataflow("users", "disable", "--db", email, DATA_DIR=str(server.data_dir))
    login = dataflow("login", "--email", email, "--password", password)

    assert disabled.code == 0, disabled.stderr
    assert login.code == 3


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_cleanup_works_on_the_metadata_database(dataflow: Dataflow, server: Server) -> None:
    # Ten years: nothing this session made is that old, so no other test loses its runs.
    kept = dataflow("cleanup", "--older-than", "3650d", DATA_DIR=str(server.data_dir))
    wrong = dataflow("cleanup", "--older-than", "a month", DATA_DIR=str(server.data_dir))

    assert kept.code == 0, kept.stderr
    assert "removed 0 runs, 0 events and 0 warehouse records older than 3650d" in kept.stderr
    assert wrong.code == 2
    assert "is not an age like 30d" in wrong.stderr


@pytest.mark.parametrize("script", ["backfill", "cleanup", "report"])
def test_each_operator_script_has_help(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / f"{script}.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": ""},
    )

    assert done.returncode == 0, done.stderr
    assert f"scripts/{script}.py {script} [OPTIONS]" in done.stdout


def test_the_report_script_takes_the_url_after_its_options(
    dataflow: Dataflow, server: Server
) -> None:
    env = dataflow.env(DATAFLOW_ADMIN_EMAIL=ADMIN_EMAIL, DATAFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD)
    env.pop("DATAFLOW_URL")

    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "report.py"), "--json", "--url", server.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.lstrip().startswith("[")
