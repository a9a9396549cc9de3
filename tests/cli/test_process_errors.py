"""The process commands against a database that is missing, unreachable or not migrated:
one line on stderr that says what to do, exit 1, and no database created on the way."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests import services
from tests.live import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# Every command that opens the metadata database itself, and what it needs besides.
USER = ["--email", "new@example.com", "--password", "a long password"]
COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "worker": ["worker"],
    "scheduler": ["scheduler"],
    "cleanup": ["cleanup", "--older-than", "30d"],
    "users create --db": ["users", "create", *USER, "--db"],
    "users create --admin": ["users", "create", *USER, "--admin"],
    "users disable --db": ["users", "disable", "someone@example.com", "--db"],
}
PASSWORD = "s3cret-pw"  # must never be printed


@dataclass(frozen=True)
class Ran:
    code: int
    stderr: str
    stdout: str

    def assert_one_line(self, *expected: str) -> None:
        lines = self.stderr.strip().splitlines()
        assert self.code == 1, self.stderr
        assert "Traceback" not in self.stderr
        assert len(lines) == 1, self.stderr
        for text in expected:
            assert text in lines[0], lines[0]
        assert PASSWORD not in self.stderr


def dataflow(cwd: Path, *args: str, redis_url: str, **env: str) -> Ran:
    """The real command, in `cwd`, with nothing of the caller's DataFlow settings."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DATAFLOW_")
        and k not in {"DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL", "DATA_DIR", "ENV"}
    }
    # The worker refuses to start without a broker before it looks at the database.
    clean.update(REDIS_URL=redis_url, COLUMNS="200", **env)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Ran(done.returncode, done.stderr, done.stdout)


def files_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    """A directory that is not a DataFlow project: no .dataflow here."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.fixture
def unmigrated_pg() -> Iterator[str]:
    url = services.create_database()
    yield url
    services.drop_database(url)


def with_password(url: str) -> str:
    """The URL with a password (the server trusts any): it must be masked when shown."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{PASSWORD}@{host}"


@pytest.mark.parametrize("command", COMMANDS)
def test_outside_a_project_each_command_says_run_migrate_and_creates_nothing(
    empty_dir: Path, claimed_redis_url: str, command: str
) -> None:
    ran = dataflow(empty_dir, *COMMANDS[command], redis_url=claimed_redis_url)

    ran.assert_one_line("no metadata database at", ".dataflow/metadata.db", "dataflow migrate")
    assert files_under(empty_dir) == []  # no stray ./.dataflow/metadata.db


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unmigrated_sqlite_file_is_named_and_left_alone(
    empty_dir: Path, claimed_redis_url: str, command: str
) -> None:
    path = empty_dir / "meta.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE unrelated (x INTEGER)")
    before = path.read_bytes()

    ran = dataflow(
        empty_dir,
        *COMMANDS[command],
        redis_url=claimed_redis_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{path}",
    )

    ran.assert_one_line(f"the metadata database at {path} is not migrated: run `dataflow migrate`")
    assert files_under(empty_dir) == [path]
    assert path.read_bytes() == before


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unmigrated_postgres_database_says_run_migrate(
    empty_dir: Path, claimed_redis_url: str, unmigrated_pg: str, command: str
) -> None:
    url = with_password(unmigrated_pg)

    ran = dataflow(empty_dir, *COMMANDS[command], redis_url=claimed_redis_url, DATABASE_URL=url)

    database = unmigrated_pg.rsplit("/", 1)[1]
    ran.assert_one_line(f"{database} is not migrated: run `dataflow migrate`", ":***@")


@pytest.mark.parametrize("command", [*COMMANDS, "migrate", "dev"])
def test_a_port_nothing_listens_on_is_cannot_reach_with_the_password_masked(
    empty_dir: Path, claimed_redis_url: str, command: str
) -> None:
    port = free_port()
    url = f"postgresql://dataflow:{PASSWORD}@127.0.0.1:{port}/metadata"
    args = COMMANDS.get(command, [command])

    ran = dataflow(empty_dir, *args, redis_url=claimed_redis_url, DATABASE_URL=url)

    expected = f"cannot reach the metadata database at postgresql://dataflow:***@127.0.0.1:{port}"
    ran.assert_one_line(expected, "/metadata (")


def test_migrate_against_a_database_that_does_not_exist_names_it(
    empty_dir: Path, claimed_redis_url: str, pg_url: str
) -> None:
    url = with_password(pg_url.rsplit("/", 1)[0] + "/dataflow_no_such_database")

    ran = dataflow(empty_dir, "migrate", redis_url=claimed_redis_url, DATABASE_URL=url)

    ran.assert_one_line(
        "cannot reach the metadata database at postgresql://",
        '/dataflow_no_such_database (database "dataflow_no_such_database" does not exist)',
    )


def test_migrate_creates_the_sqlite_file_it_is_asked_for_and_then_serve_checks_pass(
    empty_dir: Path, claimed_redis_url: str
) -> None:
    path = empty_dir / "new" / "meta.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{path}"}

    migrated = dataflow(empty_dir, "migrate", redis_url=claimed_redis_url, **env)
    cleaned = dataflow(empty_dir, *COMMANDS["cleanup"], redis_url=claimed_redis_url, **env)

    assert migrated.code == 0, migrated.stderr
    assert path.is_file()
    assert cleaned.code == 0, cleaned.stderr
    assert "removed 0 runs" in cleaned.stderr
