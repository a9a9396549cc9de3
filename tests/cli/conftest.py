"""A real `dataflow dev` server for the CLI tests, and the CLI run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.factories import unique
from tests.live import free_port, wait_until_healthy

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ADMIN_EMAIL = "cli-admin@example.com"
ADMIN_PASSWORD = "cli-admin-password"
# Settings the server must not inherit from the environment the tests run in.
SERVER_ONLY = {"DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL", "FILE_ROOTS", "ENV", "SECRET_KEY"}


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path
    log: Path

    @property
    def metadata_db(self) -> Path:
        return self.data_dir / "metadata.db"

    def write_csv(
        self, rows: list[str], header: str = "order_id,status,quantity,unit_price"
    ) -> str:
        """A CSV inside the server's data dir (file sources are confined to it); returns
        its path relative to the data dir, as a pipeline file names it."""
        name = f"{unique('orders')}.csv"
        (self.data_dir / name).write_text("\n".join([header, *rows]) + "\n")
        return name


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`dataflow dev` on a free port with its own data dir, for every CLI test."""
    base = tmp_path_factory.mktemp("cli-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY}
    env.update(
        DATA_DIR=str(base / "data"),
        DATAFLOW_ADMIN_EMAIL=ADMIN_EMAIL,
        DATAFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    log = base / "dev.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "dev", "--port", str(port)],
            cwd=base,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(url, process, log)
            yield Server(url=url, data_dir=base / "data", log=log)
        finally:
            process.terminate()
            process.wait(timeout=30)


class Dataflow:
    """The `dataflow` command in a subprocess, with a home of its own (so the config file
    is the test's), pointed at the test server by DATAFLOW_URL."""

    def __init__(self, server: Server, home: Path) -> None:
        self.server = server
        self.home = home

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DATAFLOW_") and k not in SERVER_ONLY
        }
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            DATAFLOW_URL=self.server.url,
            COLUMNS="200",  # rich tables at a readable width, as in a terminal
        )
        env.update(extra)
        return env

    def __call__(self, *args: str, cwd: Path | None = None, **extra_env: str) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env(**extra_env),
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def as_admin(self, *args: str, cwd: Path | None = None, **extra_env: str) -> Result:
        """As on a local dev server: the admin variables log the CLI in."""
        return self(
            *args,
            cwd=cwd,
            DATAFLOW_ADMIN_EMAIL=ADMIN_EMAIL,
            DATAFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
            **extra_env,
        )


@pytest.fixture
def dataflow(server: Server, tmp_path: Path) -> Dataflow:
    home = tmp_path / "home"
    home.mkdir()
    return Dataflow(server, home)
