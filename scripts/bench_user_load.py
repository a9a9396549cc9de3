"""Benchmark the load the way a user takes it: GraphQL API, one worker, PostgreSQL.

Starts a stack of its own (a fresh PostgreSQL database for metadata and warehouse,
`dataflow migrate`, `dataflow serve` and one `dataflow worker` as subprocesses, with
compose's environment), logs in as an operator, registers the orders CSV of
`scripts/bench_load.py` and its pipeline (drop cancelled orders, derive revenue and
order date, replace) over GraphQL, warms the worker up on a small file, then times
interleaved rounds:

  A  `triggerRun` over GraphQL until the run's `run_finished` event arrives on the
     `runEvents` subscription, timed from the trigger;
  B  `psql \\copy` (COPY FROM STDIN, one stream) of the same clean rows into a fresh
     table of the same shape, created in the same transaction.

Prints each round, the medians, A/B, the worker's peak RSS per A round (VmHWM of the
worker's processes, reset before each round), the run's own startedAt→finishedAt, and
the machine's calibration and load average before and after.

    uv run python -m scripts.bench_user_load --rows 5000000 --rounds 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scripts.bench_load import SPEC, generate, in_child_plain
from scripts.machine import describe as describe_machine
from scripts.process_memory import peaks, reset_peaks
from scripts.user_stack import StackConfig, psql, running_stack

if TYPE_CHECKING:
    from app.client import DataFlowClient
    from scripts.user_stack import UserStack

TABLE = "bench_user_orders"
COPY_TABLE = "bench_user_orders_copy"
WARMUP_ROWS = 1_000


@dataclass(frozen=True)
class Files:
    orders: Path
    clean: Path
    warmup: Path


@dataclass(frozen=True)
class RunRound:
    """One A round: the run through the API and the worker."""

    seconds: float
    """From sending triggerRun to receiving run_finished."""
    run_seconds: float
    """The run's own startedAt → finishedAt."""
    rows_written: int
    peak_rss_mb: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Needs PostgreSQL, Redis and psql; the CSVs are cached as bench_load's are.",
    )
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows in the CSV")
    parser.add_argument("--rounds", type=int, default=3, help="A/B pairs, interleaved")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server (an admin database on it); the bench gets a database of "
        "its own there",
    )
    parser.add_argument("--database", default="dataflow_bench_user", help="the bench's database")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/6", help="the broker")
    parser.add_argument(
        "--batch-rows", type=int, default=None, help="the worker's ETL_BATCH_ROWS (its default)"
    )
    parser.add_argument(
        "--env",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the API and the worker, e.g. RUN_PROGRESS_SECONDS=0 (repeatable)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dataflow-bench",
        help="where the generated CSVs are kept between runs (shared with bench_load)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="OUT",
        help="profile the worker during the first A round with py-spy into OUT "
        "(.svg flame graph, .txt collapsed stacks, .json speedscope)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and the processes' logs"
    )
    return parser.parse_args(argv)


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=VALUE")
    return name, value


def prepare_files(cache_dir: Path, rows: int, seed: int) -> Files:
    """bench_load's orders CSV and its clean rows (generated once), and a small warm-up
    file cut from the head of the orders."""
    folder = cache_dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    orders = folder / f"orders_sku_{rows}_{seed}.csv"
    clean = folder / f"orders_sku_{rows}_{seed}.clean.csv"
    if not orders.exists() or not clean.exists():
        in_child_plain(generate, orders, clean, rows, seed)
    warmup = folder / f"orders_sku_{rows}_{seed}.warmup.csv"
    if not warmup.exists():
        with orders.open() as source:
            head = [line for _, line in zip(range(WARMUP_ROWS + 1), source, strict=False)]
        warmup.write_text("".join(head))
    return Files(orders, clean, warmup)


def define_pipeline(client: DataFlowClient, csv_path: Path, table: str) -> str:
    """A CSV source over `csv_path` and bench_load's pipeline into `table`; its id."""
    source = client.create_source({"name": f"{table}_src", "kind": "csv", "uri": str(csv_path)})
    spec = {**SPEC, "destination": {"table": table, "mode": "replace"}}
    pipeline = client.create_pipeline({"name": table, "sourceId": source["id"], "spec": spec})
    return pipeline["id"]


def _when(text: str | None) -> datetime:
    assert text is not None, "a finished run has its start and end"
    return datetime.fromisoformat(text)


def run_round(stack: UserStack, pipeline_id: str, py_spy: Path | None = None) -> RunRound:
    """A: trigger the run over GraphQL and follow its events until run_finished."""
    client = stack.client
    assert client is not None
    reset_peaks(stack.worker_pid)
    profiler = start_py_spy(stack.worker_pid, py_spy) if py_spy else None
    started = time.perf_counter()
    run_id = client.trigger_run(pipeline_id)["id"]
    for event in client.follow_run(run_id):
        if event["kind"] == "run_finished":
            break
    seconds = time.perf_counter() - started
    if profiler is not None:
        stop_py_spy(profiler)
    run = client.run(run_id)
    if run["status"] != "SUCCEEDED":
        raise RuntimeError(f"run {run_id} ended {run['status']}: {run['error']}")
    peak = max((p.peak_mb for p in peaks(stack.worker_pid)), default=0.0)
    run_seconds = (_when(run["finishedAt"]) - _when(run["startedAt"])).total_seconds()
    return RunRound(seconds, run_seconds, run["rowsWritten"], peak)


def copy_round(database_url: str, clean: Path) -> float:
    """B: `psql \\copy` of the clean rows into a fresh table shaped like the run's."""
    psql(database_url, f"DROP TABLE IF EXISTS warehouse.{COPY_TABLE};")
    script = (
        "BEGIN;\n"
        f"CREATE TABLE warehouse.{COPY_TABLE} (LIKE warehouse.{TABLE});\n"
        f"\\copy warehouse.{COPY_TABLE} FROM '{clean}' WITH (FORMAT csv)\n"
        "COMMIT;\n"
    )
    started = time.perf_counter()
    psql(database_url, script)
    return time.perf_counter() - started


def py_spy_command() -> list[str]:
    """py-spy from PATH, else from PyPI through uv (it is no dependency of the project)."""
    found = shutil.which("py-spy")
    return [found] if found else ["uv", "tool", "run", "py-spy"]


_PY_SPY_FORMATS = {".svg": "flamegraph", ".txt": "raw", ".json": "speedscope"}


def start_py_spy(pid: int, output: Path) -> subprocess.Popen[bytes]:
    fmt = _PY_SPY_FORMATS.get(output.suffix, "flamegraph")
    options = ["--pid", str(pid), "--subprocesses", "--idle", "--threads", "--rate", "100"]
    command = [*py_spy_command(), "record", *options, "--format", fmt, "--output", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    time.sleep(2)  # attached before the run starts
    return process


def stop_py_spy(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(2)  # SIGINT: py-spy writes its output and exits
    process.wait(timeout=120)


def warm_up(stack: UserStack, warmup: Path) -> None:
    """One small run: the worker is up and has imported its readers before timing."""
    pipeline_id = define_pipeline(_client(stack), warmup, "bench_user_warmup")
    run_round(stack, pipeline_id)


def _client(stack: UserStack) -> DataFlowClient:
    assert stack.client is not None
    return stack.client


def report(runs: list[RunRound], copies: list[float]) -> None:
    print(
        "\n| round | A: trigger → run_finished | run startedAt → finishedAt | worker peak RSS "
        "| B: psql \\copy | A/B |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for number, (run, copy) in enumerate(zip(runs, copies, strict=True), start=1):
        print(
            f"| {number} | {run.seconds:.2f} s | {run.run_seconds:.2f} s | "
            f"{run.peak_rss_mb:.0f} MB | {copy:.2f} s | {run.seconds / copy:.2f}x |"
        )
    a = statistics.median(run.seconds for run in runs)
    inside = statistics.median(run.run_seconds for run in runs)
    b = statistics.median(copies)
    rss = max(run.peak_rss_mb for run in runs)
    print(
        f"| median | {a:.2f} s | {inside:.2f} s | {rss:.0f} MB (max) | {b:.2f} s | {a / b:.2f}x |"
    )
    print(f"\n{runs[0].rows_written:,} rows loaded; A/B of the medians: {a / b:.2f}x")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    files = prepare_files(args.cache_dir, args.rows, args.seed)
    print(f"source {files.orders} ({files.orders.stat().st_size / 1e6:.0f} MB)", flush=True)
    print(describe_machine(), flush=True)
    config = StackConfig(
        admin_url=args.pg,
        database=args.database,
        redis_url=args.redis,
        file_root=files.orders.parent,
        folder=Path(tempfile.mkdtemp(prefix="dataflow-bench-user-")),
        batch_rows=args.batch_rows,
        extra_env=dict(args.env),
    )
    runs: list[RunRound] = []
    copies: list[float] = []
    with running_stack(config, keep=args.keep) as stack:
        warm_up(stack, files.warmup)
        pipeline_id = define_pipeline(_client(stack), files.orders, TABLE)
        for number in range(args.rounds):
            runs.append(run_round(stack, pipeline_id, args.py_spy if number == 0 else None))
            copies.append(copy_round(config.database_url, files.clean))
            print(
                f"  round {number + 1}: A {runs[-1].seconds:.2f} s, B {copies[-1]:.2f} s",
                flush=True,
            )
        if args.keep:
            print(f"kept: database {config.database}, logs in {config.folder}")
    report(runs, copies)
    print(describe_machine(), flush=True)


if __name__ == "__main__":
    main()
