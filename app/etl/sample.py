"""Deterministic sample data: a realistic orders CSV for demos, tests and benchmarks."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from pathlib import Path

COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "CA", "BR", "JP")
CATEGORIES = ("electronics", "books", "clothing", "home", "toys", "sports", "grocery", "beauty")
CHANNELS = ("web", "mobile", "store", "partner")
# Twenty equally likely slots give each status a weight in 5 % steps: a quarter cancelled.
STATUSES = ("completed",) * 9 + ("shipped",) * 4 + ("pending", "returned") + ("cancelled",) * 5
DISCOUNTS = (0.0, 0.0, 0.0, 0.0, 0.05, 0.1, 0.15, 0.2)
_YEAR_SECONDS = 365 * 24 * 3600
# Naive on purpose: order times are the shop's local wall-clock time.
_EPOCH = datetime(2024, 1, 1)


class _Draws:
    """Reproducible pseudo-random integers, a whole column per call (no per-row loop).

    Each column is SHAKE-256 output keyed by (seed, column): stable across Python and
    Polars versions, and the first n rows are the same whatever the total row count.
    """

    def __init__(self, rows: int, seed: int) -> None:
        self.rows = rows
        self.seed = seed

    def uniform(self, column: str, high: int) -> pl.Series:
        """Integers in [0, high) for `column`."""
        stream = hashlib.shake_256(f"{self.seed}:{column}".encode()).digest(4 * self.rows)
        buffer = pa.py_buffer(stream)
        raw = pl.Series(pa.Array.from_buffers(pa.uint32(), self.rows, [None, buffer]))
        return (raw % high).cast(pl.Int64)

    def pick(self, column: str, choices: tuple[object, ...]) -> pl.Series:
        return pl.Series(list(choices)).gather(self.uniform(column, len(choices)))


def orders_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    """The orders table as a DataFrame, identical for identical (rows, seed)."""
    draw = _Draws(rows, seed)
    frame = pl.DataFrame(
        {
            "order_id": pl.int_range(1, rows + 1, eager=True),
            "order_ts": draw.uniform("order_ts", _YEAR_SECONDS),
            "customer_id": draw.uniform("customer_id", 200_000) + 1,
            "country": draw.pick("country", COUNTRIES),
            "category": draw.pick("category", CATEGORIES),
            "status": draw.pick("status", STATUSES),
            "quantity": draw.uniform("quantity", 10) + 1,
            "unit_price": ((draw.uniform("unit_price", 99_800) + 199) / 100).round(2),
            "discount": draw.pick("discount", DISCOUNTS),
            "channel": draw.pick("channel", CHANNELS),
        }
    )
    return frame.with_columns(order_ts=pl.lit(_EPOCH) + pl.duration(seconds=pl.col("order_ts")))


def write_orders_csv(path: Path, rows: int, seed: int = 0) -> Path:
    """Write `rows` orders to `path` as CSV with a header and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    orders_frame(rows, seed).write_csv(path, datetime_format="%Y-%m-%dT%H:%M:%S")
    return path
