"""A worker process stays lean: what only some runs need is imported when one does."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import actors.runs
print(sorted(name for name in ("duckdb", "app.analytics.read_paths") if name in sys.modules))
"""


def test_the_worker_imports_the_analytics_read_path_only_for_a_dataset_load() -> None:
    # DuckDB and the replica's S3 client are about 30 MB of every worker's memory.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
