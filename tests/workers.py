"""Real Dramatiq worker processes for integration tests, configured like production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings


def worker_environment(settings: Settings) -> dict[str, str]:
    assert settings.database_url
    assert settings.redis_url
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_")}
    env.update(
        ENV=settings.env.value,
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        DATA_DIR=str(settings.data_dir),
        FILE_ROOTS=":".join(str(root) for root in settings.allowed_file_roots),
        SECRET_KEY=settings.signing_key(),
        LOG_LEVEL="INFO",
        ETL_BATCH_ROWS=str(settings.etl_batch_rows),
    )
    return env


@contextmanager
def dramatiq_worker(settings: Settings, log_path: Path, threads: int = 2) -> Iterator[None]:
    """`dramatiq actors` in a subprocess, as `dataflow worker` runs it; stopped after."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dramatiq",
                "actors",
                "--processes",
                "1",
                "--threads",
                str(threads),
            ],
            env=worker_environment(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
