"""Real Dramatiq worker processes for integration tests, configured like production."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

from scripts.user_stack import stop_process

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings


def worker_environment(settings: Settings) -> dict[str, str]:
    assert settings.database_url
    assert settings.redis_url
    env = dict(os.environ)
    env.update(
        ENV=settings.env.value,
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        DATA_DIR=str(settings.data_dir),
        FILE_ROOTS=":".join(str(root) for root in settings.allowed_file_roots),
        SECRET_KEY=settings.signing_key(),
        LOG_LEVEL="INFO",
        ETL_BATCH_ROWS=str(settings.etl_batch_rows),
        RUN_PROGRESS_SECONDS=str(settings.run_progress_seconds),
        RUN_LEASE_SECONDS=str(settings.run_lease_seconds),
        RETRY_BASE_SECONDS=str(settings.retry_base_seconds),
        RETRY_MAX_SECONDS=str(settings.retry_max_seconds),
    )
    if settings.warehouse_url:
        env["WAREHOUSE_URL"] = settings.warehouse_url
    return env


def start_worker(settings: Settings, log_path: Path, threads: int = 2) -> subprocess.Popen[bytes]:
    """`dramatiq actors` in a subprocess, as `dataflow worker` runs it."""
    command = [sys.executable, "-m", "dramatiq", "actors", "--processes", "1"]
    # The child keeps its own copy of the log's descriptor; ours can close at once.
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [*command, "--threads", str(threads)],
            env=worker_environment(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


stop_worker = stop_process  # the same stop as the benchmark's stack (SIGTERM, then SIGKILL)


@contextmanager
def dramatiq_worker(settings: Settings, log_path: Path, threads: int = 2) -> Iterator[None]:
    """A worker for the duration of the block."""
    process = start_worker(settings, log_path, threads)
    try:
        yield
    finally:
        stop_worker(process)
