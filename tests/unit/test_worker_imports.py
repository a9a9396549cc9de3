"""A worker process stays lean: what only some runs need is imported when one does."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import actors.runs
lazy = ("duckdb", "app.analytics.read_paths", "aioboto3")
print(sorted(name for name in lazy if name in sys.modules))
"""


def test_the_worker_imports_duckdb_and_the_s3_client_only_for_the_runs_that_use_them() -> None:
    # DuckDB and the S3 client (for replicas and S3 sources) are about 55 MB of every
    # worker's memory.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
