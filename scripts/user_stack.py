"""DataFlow as a user runs it, on this machine: a database of its own, `dataflow migrate`,
`dataflow serve` and one `dataflow worker` as subprocesses (compose's commands and
environment), and an operator's client of the API."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.client import Credentials, DataFlowClient

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

BIN = Path(sys.executable).parent
# What an operator's shell may hold that must not reach the processes: they get what
# the benchmark gives them, as compose gives its containers theirs.
_HOST_PREFIXES = ("DATAFLOW_", "AWS_", "S3_", "ANALYTICS_", "ETL_", "RUN_")
_HOST_NAMES = {"ENV", "DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL", "SECRET_KEY", "DATA_DIR"}
_HOST_NAMES |= {"FILE_ROOTS", "LOG_LEVEL", "SENTRY_DSN"}
ADMIN_EMAIL = "bench-admin@example.com"
OPERATOR_EMAIL = "bench-operator@example.com"


@dataclass(frozen=True)
class StackConfig:
    admin_url: str
    """postgresql://… of a database to connect to for CREATE/DROP DATABASE."""
    database: str
    redis_url: str
    file_root: Path
    folder: Path
    """Data dirs and logs of the processes."""
    worker_threads: int = 2
    batch_rows: int | None = None
    """ETL_BATCH_ROWS for the worker; None keeps the worker's default."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """More settings for every process (e.g. RUN_PROGRESS_SECONDS), over the defaults."""

    @property
    def database_url(self) -> str:
        """The bench database on the admin URL's server (libpq form, for psql)."""
        return urlunsplit(urlsplit(self.admin_url)._replace(path=f"/{self.database}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def psql(url: str, script: str) -> None:
    """Run an SQL script (psql meta-commands allowed) and stop at its first error."""
    executable = shutil.which("psql")
    if executable is None:
        raise RuntimeError("psql is not on PATH (PostgreSQL's client tools)")
    done = subprocess.run(
        [executable, "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-d", url],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")


class UserStack:
    """The processes; `client` is an operator's, once `start` returned."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.secret = secrets.token_urlsafe(48)
        self.admin_password = secrets.token_urlsafe(16)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.client: DataFlowClient | None = None

    def environment(self, name: str) -> dict[str, str]:
        config = self.config
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in _HOST_NAMES and not key.startswith(_HOST_PREFIXES)
        }
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `dataflow worker` execs dramatiq
        env.update(
            ENV="prod",
            DATABASE_URL=config.database_url.replace("postgresql://", "postgresql+asyncpg://"),
            REDIS_URL=config.redis_url,
            SECRET_KEY=self.secret,
            FILE_ROOTS=str(config.file_root),
            LOG_LEVEL="INFO",
            DATA_DIR=str(self.data_dir(name)),
            DATAFLOW_ADMIN_EMAIL=ADMIN_EMAIL,
            DATAFLOW_ADMIN_PASSWORD=self.admin_password,
        )
        if config.batch_rows is not None:
            env["ETL_BATCH_ROWS"] = str(config.batch_rows)
        env.update(config.extra_env)
        return env

    def data_dir(self, name: str) -> Path:
        folder = self.config.folder / name / "data"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def log(self, name: str) -> Path:
        return self.config.folder / name / "output.log"

    def run_once(self, name: str, argv: list[str]) -> None:
        self.data_dir(name)
        with self.log(name).open("wb") as output:
            done = subprocess.run(
                [str(BIN / "dataflow"), *argv],
                env=self.environment(name),
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=600,
                check=False,
            )
        if done.returncode:
            raise RuntimeError(f"dataflow {argv[0]} failed:\n{self.tail(name)}")

    def start_process(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        self.data_dir(name)
        with self.log(name).open("wb") as output:
            process = subprocess.Popen(
                [str(BIN / "dataflow"), *argv],
                env=self.environment(name),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def tail(self, name: str, lines: int = 30) -> str:
        log = self.log(name)
        text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
        return "\n".join(text)

    def start(self) -> DataFlowClient:
        """Database, migration, API, worker; an operator's client of the API."""
        psql(self.config.admin_url, self._recreate_database())
        self.run_once("migrate", ["migrate"])
        port = free_port()
        api = self.start_process("api", ["serve", "--host", "127.0.0.1", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        self._wait_healthy(url, api)
        threads = str(self.config.worker_threads)
        self.start_process("worker", ["worker", "--processes", "1", "--threads", threads])
        self.client = self._operator(url)
        return self.client

    @property
    def worker_pid(self) -> int:
        return self.processes["worker"].pid

    def _recreate_database(self) -> str:
        name = self.config.database
        return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);\nCREATE DATABASE "{name}";\n'

    def _wait_healthy(self, url: str, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the API exited:\n{self.tail('api')}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API did not answer /healthz:\n{self.tail('api')}")

    def _operator(self, url: str) -> DataFlowClient:
        """The admin `dataflow serve` made makes an operator, who logs in."""
        admin = DataFlowClient.connect(Credentials(url, None, ADMIN_EMAIL, self.admin_password))
        password = secrets.token_urlsafe(16)
        admin.create_user(OPERATOR_EMAIL, password, "operator")
        return DataFlowClient.connect(Credentials(url, None, OPERATOR_EMAIL, password))

    def stop(self, *, drop_database: bool = True) -> None:
        for process in reversed(self.processes.values()):
            stop_process(process)
        if drop_database:
            psql(self.config.admin_url, f'DROP DATABASE IF EXISTS "{self.config.database}";')


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not stopped after 30 s (as compose stops a service)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_stack(config: StackConfig, *, keep: bool = False) -> Iterator[UserStack]:
    """The stack for the block; its database dropped after, unless `keep`."""
    stack = UserStack(config)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop(drop_database=not keep)
        if not keep:
            shutil.rmtree(config.folder, ignore_errors=True)
