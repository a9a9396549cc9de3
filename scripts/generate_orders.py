"""Write a deterministic sample orders CSV (10 columns, a quarter of them cancelled)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from app.etl.sample import write_orders_csv


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to write")
    parser.add_argument(
        "--out", type=Path, default=Path("orders.csv"), help="CSV file to write (overwritten)"
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed, same file")
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error("--rows must not be negative")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    path = write_orders_csv(args.out, args.rows, seed=args.seed)
    seconds = time.perf_counter() - started
    size_mb = path.stat().st_size / 1e6
    print(f"wrote {args.rows:,} rows to {path} ({size_mb:.1f} MB) in {seconds:.1f} s")


if __name__ == "__main__":
    main()
