"""Benchmark the load: the ETL pipeline vs a plain COPY of its clean rows vs dlt.

Generates a seeded orders CSV once (cached in the temp dir), runs the pipeline (drop
cancelled orders, derive revenue and order date) into the warehouse with `run_pipeline`,
then, on PostgreSQL, times a plain COPY of the same clean rows into a table of the same
shape and, when the optional `bench` group is installed (`uv sync --group bench`), dlt's
default PostgreSQL load of them. Each load runs in a fresh process, so its peak RSS is
its own; a table of time, rows/s, peak RSS and the ratios is printed at the end.

    uv run python -m scripts.bench_load --warehouse-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import polars as pl

from app.etl.engine import RunContext, run_pipeline
from app.etl.sources import parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec
from app.etl.warehouse import open_warehouse
from scripts.machine import describe as describe_machine

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from multiprocessing.connection import Connection

    from app.event_types import Event

TABLE = "bench_orders"
SPEC = {
    "steps": [
        {"filter": "status <> 'cancelled'"},
        {
            "derive": {
                "revenue": "quantity * unit_price * (1 - discount)",
                "order_date": "CAST(order_ts AS DATE)",
            }
        },
    ],
    "destination": {"table": TABLE, "mode": "replace"},
}
SKUS = 5_000
# How the engine writes timestamps for COPY: the plain COPY reads the same text.
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%.f"


@dataclass(frozen=True)
class Measure:
    name: str
    rows: int
    seconds: float
    peak_rss_mb: float
    note: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows in the CSV")
    parser.add_argument(
        "--warehouse-url",
        default=None,
        help="postgresql://... (COPY and dlt baselines run only on PostgreSQL) or "
        "duckdb:///abs/path.duckdb (default: a DuckDB file in the cache dir)",
    )
    parser.add_argument("--batch-rows", type=int, default=25_000, help="rows per batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-dlt", action="store_true", help="do not run the dlt baseline")
    parser.add_argument(
        "--mode",
        choices=["replace", "append"],
        default="replace",
        help="replace (staging renamed into place) or append into a table that already "
        "holds the rows (staging copied in)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dataflow-bench",
        help="where the generated CSVs are kept between runs",
    )
    return parser.parse_args(argv)


def orders_with_sku(rows: int, seed: int) -> pl.DataFrame:
    """The sample orders plus a SKU drawn from the order id (deterministic, vectorised)."""
    # Only the generating process needs it (and pyarrow with it): load processes stay lean.
    from app.etl.sample import orders_frame

    frame = orders_frame(rows, seed)
    number = pl.col("order_id").hash(seed) % SKUS + 1
    sku = pl.lit("SKU-") + number.cast(pl.String).str.zfill(5)
    return frame.with_columns(sku.alias("sku")).select(
        "order_id",
        "customer_id",
        "order_ts",
        "country",
        "category",
        "sku",
        "quantity",
        "unit_price",
        "discount",
        "status",
    )


def generate(path: Path, clean: Path, rows: int, seed: int) -> None:
    """The orders CSV, and the pipeline's expected output as CSV for the baselines."""
    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    orders_with_sku(rows, seed).write_csv(partial, datetime_format="%Y-%m-%dT%H:%M:%S")
    partial.rename(path)  # a crash mid-write never leaves a "cached" half file
    expected = (
        pl.scan_csv(path, try_parse_dates=True)
        .filter(pl.col("status") != "cancelled")
        .with_columns(
            revenue=pl.col("quantity") * pl.col("unit_price") * (1 - pl.col("discount")),
            order_date=pl.col("order_ts").dt.date(),
        )
    )
    partial = clean.with_suffix(".partial")
    expected.sink_csv(partial, include_header=False, datetime_format=DATETIME_FORMAT)
    partial.rename(clean)
    print(f"generated {path} and {clean} in {time.perf_counter() - started:.1f} s", flush=True)


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS; children count for dlt's workers.
    scale = 1 if sys.platform == "darwin" else 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * scale / 1e6


async def _pipeline(
    csv_path: Path, target: str, batch_rows: int, mode: str = "replace"
) -> tuple[int, int, float]:
    source = parse_source("csv", str(csv_path), {}, SourcePolicy((csv_path.parent,)))
    warehouse = open_warehouse(target)
    spec = parse_spec({**SPEC, "destination": {"table": TABLE, "mode": mode}})

    async def ignore(event: Event) -> None:
        del event

    async def once() -> tuple[int, int, float]:
        started = time.perf_counter()
        run = RunContext(
            run_id=f"bench-{time.time_ns()}",
            spec=spec,
            source=source,
            events=ignore,
            batch_rows=batch_rows,
        )
        result = await run_pipeline(run, warehouse)
        return result.rows_read, result.rows_written, time.perf_counter() - started

    try:
        if mode == "append":
            # Appending into a table that already holds the rows: the copy path.
            await once()
        return await once()
    finally:
        await warehouse.close()


def bench_pipeline(
    send: Connection, csv_path: Path, target: str, batch_rows: int, mode: str
) -> None:
    # A worker imports its readers once; the first run should not time that.
    import app.etl.sources.files.reader  # noqa: F401

    if mode == "append":
        asyncio.run(_drop(target))
    read, written, seconds = asyncio.run(_pipeline(csv_path, target, batch_rows, mode))
    note = f"{read:,} rows read"
    send.send(Measure(f"dataflow pipeline ({mode})", written, seconds, peak_rss_mb(), note))


async def _drop(target: str) -> None:
    if target.startswith("postgres"):
        import asyncpg  # only the PostgreSQL baselines need it

        connection = await asyncpg.connect(target.replace("+asyncpg", ""))
        try:
            await connection.execute(f"DROP TABLE IF EXISTS warehouse.{TABLE}")
        finally:
            await connection.close()


async def _copy(clean: Path, dsn: str) -> float:
    import asyncpg  # only the PostgreSQL baselines need it

    connection = await asyncpg.connect(dsn.replace("+asyncpg", ""))
    try:
        await connection.execute("DROP TABLE IF EXISTS warehouse.bench_orders_copy")
        started = time.perf_counter()
        async with connection.transaction():
            await connection.execute(
                "CREATE TABLE warehouse.bench_orders_copy (LIKE warehouse.bench_orders)"
            )
            await connection.copy_to_table(
                "bench_orders_copy", schema_name="warehouse", source=clean, format="csv"
            )
        return time.perf_counter() - started
    finally:
        await connection.close()


def bench_copy(send: Connection, clean: Path, dsn: str, rows: int) -> None:
    seconds = asyncio.run(_copy(clean, dsn))
    send.send(Measure("plain COPY of the clean rows", rows, seconds, peak_rss_mb()))


def _clean_batches(clean: Path, schema: pl.Schema) -> Iterator[Any]:
    lazy = pl.scan_csv(clean, has_header=False, schema=schema)
    for batch in lazy.collect_batches(chunk_size=100_000):
        yield batch.to_arrow()


def bench_dlt(send: Connection, clean: Path, dsn: str, rows: int, schema: pl.Schema) -> None:
    import dlt  # optional: the bench dependency group

    folder = tempfile.mkdtemp(prefix="dataflow-dlt-")
    pipeline = dlt.pipeline(
        pipeline_name="bench_orders",
        destination=dlt.destinations.postgres(credentials=_with_password(dsn)),
        dataset_name="bench_dlt",
        pipelines_dir=folder,
    )
    started = time.perf_counter()
    pipeline.run(_clean_batches(clean, schema), table_name="orders", write_disposition="replace")
    seconds = time.perf_counter() - started
    send.send(Measure(f"dlt {dlt.__version__} default", rows, seconds, peak_rss_mb()))


def _with_password(dsn: str) -> str:
    """dlt insists on a password; a server that trusts local connections ignores it."""
    parts = urlsplit(dsn.replace("+asyncpg", ""))
    if parts.password is not None:
        return parts.geturl()
    user, host = parts.netloc.rsplit("@", 1) if "@" in parts.netloc else ("postgres", parts.netloc)
    return urlunsplit(parts._replace(netloc=f"{user}:unused@{host}"))


def in_child(function: Callable[..., None], *args: object) -> Measure:
    """Run in a fresh interpreter: Linux carries a parent's peak RSS into its children,
    so the parent stays small and each load's figure is its own."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=function, args=(send, *args))
    process.start()
    send.close()  # the child's end: a child that dies makes recv() fail, not hang
    measure: Measure | None
    try:
        measure = receive.recv()
    except EOFError:
        measure = None
    process.join()
    if measure is None or process.exitcode:
        sys.exit(f"{function.__name__} failed (exit code {process.exitcode})")
    note = f" ({measure.note})" if measure.note else ""
    print(f"  {measure.name}: {measure.seconds:.2f} s{note}", flush=True)
    return measure


def has_dlt() -> bool:
    try:
        import dlt  # noqa: F401
    except ImportError:
        return False
    return True


def report(measures: list[Measure]) -> None:
    copy = next((m for m in measures if m.name.startswith("plain COPY")), None)
    ours = measures[0]
    print("\n| load | rows | time | rows/s | peak RSS | vs plain COPY |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for m in measures:
        ratio = f"{m.seconds / copy.seconds:.2f}x" if copy else "-"
        print(
            f"| {m.name} | {m.rows:,} | {m.seconds:.1f} s | {m.rows / m.seconds:,.0f} | "
            f"{m.peak_rss_mb:.0f} MB | {ratio} |"
        )
    for m in measures[1:]:
        if m.name.startswith("dlt"):
            print(f"\ndlt takes {m.seconds / ours.seconds:.1f}x the pipeline's time")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = args.cache_dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / f"orders_sku_{args.rows}_{args.seed}.csv"
    clean = folder / f"orders_sku_{args.rows}_{args.seed}.clean.csv"
    if not csv_path.exists() or not clean.exists():
        in_child_plain(generate, csv_path, clean, args.rows, args.seed)
    target = args.warehouse_url or f"duckdb:///{folder / 'bench.duckdb'}"
    size_mb = csv_path.stat().st_size / 1e6
    print(f"source {csv_path} ({size_mb:.0f} MB), batch_rows={args.batch_rows:,}", flush=True)
    print(describe_machine(), flush=True)
    measures = [in_child(bench_pipeline, csv_path, target, args.batch_rows, args.mode)]
    if target.startswith("postgres"):
        rows = measures[0].rows
        measures.append(in_child(bench_copy, clean, target, rows))
        if not args.skip_dlt and has_dlt():
            schema = pl.read_csv(csv_path, n_rows=1000, try_parse_dates=True).schema
            schema = pl.Schema({**schema, "revenue": pl.Float64(), "order_date": pl.Date()})
            measures.append(in_child(bench_dlt, clean, target, rows, schema))
    report(measures)
    print(describe_machine(), flush=True)


def in_child_plain(function: Callable[..., None], *args: object) -> None:
    process = multiprocessing.get_context("spawn").Process(target=function, args=args)
    process.start()
    process.join()
    if process.exitcode:
        sys.exit(f"{function.__name__} failed (exit code {process.exitcode})")


if __name__ == "__main__":
    main()
