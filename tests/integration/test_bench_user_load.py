"""The user-path load benchmark runs end to end on a small file (its figures unchecked:
a benchmark's timings are no test's business)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from scripts import bench_user_load
from tests import services

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def test_a_small_load_runs_through_the_api_and_a_worker_and_is_reported(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"dataflow_test_bench_{uuid.uuid4().hex[:8]}"
    argv = ["--rows", "2000", "--rounds", "1", "--cache-dir", str(tmp_path)]
    argv += ["--pg", services.PG_ADMIN_URL, "--redis", redis_url, "--database", database]
    bench_user_load.main(argv)

    out = capsys.readouterr().out
    clean = tmp_path / "orders_sku_2000_0.clean.csv"
    rows = len(clean.read_text().splitlines())
    assert f"{rows:,} rows loaded" in out
    assert "| median |" in out
    assert out.count("machine: ") == 2  # the calibration before and after
