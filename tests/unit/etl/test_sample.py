"""The sample orders data and the scripts that use it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

from app.etl.sample import orders_frame, write_orders_csv
from app.etl.sources import parse_source
from app.etl.sources.policy import SourcePolicy
from tests.unit.etl.sources.readers import read_batches

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
COLUMNS = [
    "order_id",
    "order_ts",
    "customer_id",
    "country",
    "category",
    "status",
    "quantity",
    "unit_price",
    "discount",
    "channel",
]


async def test_the_orders_csv_is_realistic_and_typed(tmp_path: Path) -> None:
    path = write_orders_csv(tmp_path / "orders.csv", 4_000)
    schema, _ = await read_batches(parse_source("csv", str(path), {}, SourcePolicy((tmp_path,))))
    assert schema.names() == COLUMNS
    assert schema["order_ts"] == pl.Datetime("us")
    frame = pl.read_csv(path)
    assert frame.height == 4_000
    assert frame["order_id"].to_list() == list(range(1, 4_001))
    cancelled = (frame["status"] == "cancelled").mean()
    assert isinstance(cancelled, float)
    assert 0.2 < cancelled < 0.3
    assert frame["quantity"].is_between(1, 10).all()
    assert frame["discount"].is_between(0, 0.2).all()


def test_the_same_seed_gives_the_same_file(tmp_path: Path) -> None:
    first = write_orders_csv(tmp_path / "a.csv", 500, seed=1).read_bytes()
    again = write_orders_csv(tmp_path / "b.csv", 500, seed=1).read_bytes()
    other = write_orders_csv(tmp_path / "c.csv", 500, seed=2).read_bytes()
    assert first == again
    assert first != other


def test_fewer_rows_are_a_prefix_of_more() -> None:
    assert orders_frame(50, seed=4).equals(orders_frame(5_000, seed=4).head(50))


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, timeout=120
    )


def test_generate_orders_script(tmp_path: Path) -> None:
    assert "--rows" in run_script(str(SCRIPTS / "generate_orders.py"), "--help").stdout
    out = tmp_path / "generated.csv"
    run_script(str(SCRIPTS / "generate_orders.py"), "--rows", "25", "--out", str(out))
    assert pl.read_csv(out).shape == (25, 10)


def test_bench_load_script_runs_on_a_small_file(tmp_path: Path) -> None:
    assert "--warehouse-url" in run_script(str(SCRIPTS / "bench_load.py"), "--help").stdout
    result = run_script(
        str(SCRIPTS / "bench_load.py"), "--rows", "3000", "--cache-dir", str(tmp_path)
    )
    assert "3,000 rows read" in result.stdout
    assert "| dataflow pipeline (replace) | 2,2" in result.stdout  # three quarters kept
    assert "peak RSS" in result.stdout
