"""Prove the installed product works the way the image runs it, outside the checkout.

    uv run python scripts/check_installed_wheel.py

Builds the wheel, installs it with the locked dependencies into a fresh virtualenv in a
temporary folder, and from another folder runs the installed `dataflow migrate` against a
fresh SQLite file and a fresh PostgreSQL database (created and dropped here), then starts
the installed `dataflow serve` and waits for 200 from /readyz. Any failed step exits 1
with the step's name and the last lines of its output. `.ci/run` runs it.

PostgreSQL: DATAFLOW_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
Redis for `serve`: DATAFLOW_TEST_REDIS_URL if set (it only pings), else the in-process
broker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
# Generous: the CI machines are shared and sometimes very busy. Nothing here is timed.
STEP_SECONDS = 900
READY_SECONDS = 300
STOP_SECONDS = 60
TAIL_LINES = 40
# What an operator's shell may export that must not leak into the installed copy's runs.
_APP_VARIABLES = (
    "ENV",
    "DATABASE_URL",
    "WAREHOUSE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DATA_DIR",
    "FILE_ROOTS",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
)


class CheckFailed(Exception):
    def __init__(self, step: str, output: str) -> None:
        super().__init__(step)
        self.step = step
        self.output = output


def say(message: str) -> None:
    print(f"check_installed_wheel: {message}", flush=True)


def clean_environment(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _APP_VARIABLES and not name.startswith("DATAFLOW_")
    }
    env.update(extra)
    return env


def run(step: str, argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run one step to completion; its combined output, or CheckFailed."""
    say(step)
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env if env is not None else clean_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=STEP_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        output = error.output if isinstance(error.output, str) else ""
        raise CheckFailed(step, f"{output}\n(still running after {STEP_SECONDS} s)") from None
    if done.returncode != 0:
        raise CheckFailed(step, f"{done.stdout}\n(exit code {done.returncode})")
    return done.stdout


def install(work: Path) -> Path:
    """The wheel and the locked runtime dependencies in a fresh venv; its bin folder."""
    uv = shutil.which("uv") or "uv"
    dist, venv = work / "dist", work / "venv"
    run("build the wheel", [uv, "build", "--wheel", "--out-dir", str(dist)], cwd=ROOT)
    wheels = sorted(dist.glob("dataflow-*.whl"))
    if len(wheels) != 1:
        raise CheckFailed("build the wheel", f"expected one wheel in {dist}, found {wheels}")
    requirements = work / "requirements.txt"
    # The image's dependencies: the lock without dev groups, the project left out.
    export = ["export", "--frozen", "--no-dev", "--no-emit-project", "--quiet"]
    output = ["--format", "requirements-txt", "--output-file", str(requirements)]
    run("export the locked runtime dependencies", [uv, *export, *output], cwd=ROOT)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    run("create a fresh venv", [uv, "venv", "--python", version, str(venv)], cwd=work)
    python = str(venv / "bin" / "python")
    pip = [uv, "pip", "install", "--python", python]
    run("install the dependencies", [*pip, "--requirement", str(requirements)], cwd=work)
    run("install the wheel", [*pip, "--no-deps", str(wheels[0])], cwd=work)
    return venv / "bin"


def check_imports_installed_copy(bin_dir: Path, cwd: Path) -> None:
    """The runs below must prove the installed package, not the checkout."""
    where = run(
        "the installed app is the one imported",
        [str(bin_dir / "python"), "-c", "import app; print(app.__file__)"],
        cwd=cwd,
    ).strip()
    if not Path(where).is_relative_to(bin_dir.parent):
        raise CheckFailed("the installed app is the one imported", f"imported {where}")


def migrate_sqlite(bin_dir: Path, cwd: Path, work: Path) -> None:
    database = work / "sqlite" / "metadata.db"
    database.parent.mkdir()
    env = clean_environment(
        DATABASE_URL=f"sqlite+aiosqlite:///{database}", DATA_DIR=str(work / "sqlite")
    )
    step = "dataflow migrate (fresh SQLite file)"
    run(step, [str(bin_dir / "dataflow"), "migrate"], cwd=cwd, env=env)
    with sqlite3.connect(database) as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    if len(versions) != 1:
        raise CheckFailed(step, f"alembic_version holds {versions}")


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url, timeout=30)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new database for the duration of the block; its URL."""
    name = f"dataflow_wheel_{secrets.token_hex(6)}"
    try:
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        raise CheckFailed("create a fresh PostgreSQL database", repr(error)) from None
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readyz_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310  (our URL)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def serve_until_ready(bin_dir: Path, cwd: Path, env: dict[str, str], log: Path) -> None:
    """Start the installed `dataflow serve`, wait for /readyz 200, then stop it."""
    step = "dataflow serve answers 200 on /readyz"
    say(step)
    port = free_port()
    argv = [str(bin_dir / "dataflow"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_SECONDS
        status = None
        while status != 200:
            if process.poll() is not None:
                message = f"exited with {process.returncode} before /readyz answered 200"
                raise CheckFailed(step, f"{log.read_text()}\n({message})")
            if time.monotonic() > deadline:
                message = f"/readyz still {status} after {READY_SECONDS} s"
                raise CheckFailed(step, f"{log.read_text()}\n({message})")
            time.sleep(0.5)
            status = readyz_status(f"http://127.0.0.1:{port}/readyz")
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check(work: Path, admin_url: str, redis_url: str | None) -> None:
    bin_dir = install(work)
    elsewhere = work / "elsewhere"  # neither the checkout nor the venv
    elsewhere.mkdir()
    check_imports_installed_copy(bin_dir, elsewhere)
    migrate_sqlite(bin_dir, elsewhere, work)
    with fresh_postgres(admin_url) as database_url:
        env = clean_environment(DATABASE_URL=database_url, DATA_DIR=str(work / "pg"))
        step = "dataflow migrate (fresh PostgreSQL database)"
        run(step, [str(bin_dir / "dataflow"), "migrate"], cwd=elsewhere, env=env)
        # As the image runs: production settings, the first admin made on start.
        env.update(
            ENV="prod",
            SECRET_KEY=secrets.token_urlsafe(48),
            DATAFLOW_ADMIN_EMAIL="wheel-check@example.com",
            DATAFLOW_ADMIN_PASSWORD=secrets.token_urlsafe(16),
        )
        if redis_url:
            env["REDIS_URL"] = redis_url
        serve_until_ready(bin_dir, elsewhere, env, work / "serve.log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "DATAFLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL URL allowed to create databases",
    )
    parser.add_argument("--redis", default=os.environ.get("DATAFLOW_TEST_REDIS_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dataflow-wheel-check-")).resolve()
    if work.is_relative_to(ROOT):
        say(f"FAILED: the temporary folder {work} is inside the checkout")
        return 1
    try:
        check(work, args.pg, args.redis)
    except CheckFailed as failure:
        tail = "\n".join(failure.output.strip().splitlines()[-TAIL_LINES:])
        print(tail, flush=True)
        say(f"FAILED at step: {failure.step} (files kept in {work})")
        return 1
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    say("OK: the installed wheel migrates SQLite and PostgreSQL and serves /readyz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
