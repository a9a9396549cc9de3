"""Benchmark the ETL engine: orders CSV -> filter + derive -> warehouse, with timings.

Generates the CSV once (cached in the temp dir), then loads it with `run_pipeline` into
each warehouse asked for, each in a fresh process so that its peak RSS is its own, and
prints rows, seconds, rows/s and that peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.etl.engine import LoadResult, run_pipeline
from app.etl.sample import write_orders_csv
from app.etl.sources import parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec
from app.etl.warehouse import open_warehouse

if TYPE_CHECKING:
    from collections.abc import Callable

SPEC = {
    "steps": [
        {"filter": "status <> 'cancelled'"},
        {"derive": {"revenue": "quantity * unit_price * (1 - discount)"}},
    ],
    "destination": {"table": "bench_orders", "mode": "replace"},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows in the CSV")
    parser.add_argument(
        "--warehouse-url",
        action="append",
        dest="targets",
        help="postgresql://... or duckdb:///abs/path.duckdb; repeat for several "
        "(default: a DuckDB file in the temp dir)",
    )
    parser.add_argument("--batch-rows", type=int, default=100_000, help="rows per batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dataflow-bench",
        help="where the generated CSV is kept between runs",
    )
    return parser.parse_args(argv)


def generate(path: Path, rows: int, seed: int) -> None:
    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    write_orders_csv(partial, rows, seed=seed)
    partial.rename(path)  # a crash mid-write never leaves a "cached" half file
    print(f"generated {path} in {time.perf_counter() - started:.1f} s", flush=True)


async def load_once(csv_path: Path, target: str, batch_rows: int) -> tuple[LoadResult, float]:
    source = parse_source("csv", str(csv_path), {}, SourcePolicy((csv_path.parent,)))
    warehouse = open_warehouse(target)

    async def ignore(kind: str, stage: str, payload: dict[str, Any]) -> None:
        del kind, stage, payload

    try:
        started = time.perf_counter()
        result = await run_pipeline(
            source=source,
            spec=parse_spec(SPEC),
            warehouse=warehouse,
            run_id="bench",
            emit=ignore,
            batch_rows=batch_rows,
        )
        return result, time.perf_counter() - started
    finally:
        await warehouse.close()


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def bench_one(csv_path: Path, target: str, batch_rows: int) -> None:
    """One load, in its own process, printed as one line."""
    result, seconds = asyncio.run(load_once(csv_path, target, batch_rows))
    scheme = target.split(":", 1)[0]
    print(
        f"{scheme:<18} read {result.rows_read:>10,}  written {result.rows_written:>10,}  "
        f"{seconds:6.2f} s  {result.rows_read / seconds:>10,.0f} rows/s read  "
        f"{result.rows_written / seconds:>10,.0f} rows/s written  "
        f"peak RSS {peak_rss_mb():5.0f} MB",
        flush=True,
    )


def in_child(function: Callable[..., None], *args: object) -> None:
    """Run in a fresh interpreter: Linux carries a parent's peak RSS into its children,
    so the parent stays small and each load's figure is its own."""
    process = multiprocessing.get_context("spawn").Process(target=function, args=args)
    process.start()
    process.join()
    if process.exitcode:
        sys.exit(f"{function.__name__} failed (exit code {process.exitcode})")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    csv_path = args.cache_dir.resolve() / f"orders_{args.rows}_{args.seed}.csv"
    if not csv_path.exists():
        in_child(generate, csv_path, args.rows, args.seed)
    targets = args.targets or [f"duckdb:///{args.cache_dir.resolve() / 'bench.duckdb'}"]
    size_mb = csv_path.stat().st_size / 1e6
    print(f"source {csv_path} ({size_mb:.0f} MB), batch_rows={args.batch_rows:,}", flush=True)
    for target in targets:
        in_child(bench_one, csv_path, target, args.batch_rows)


if __name__ == "__main__":
    main()
