"""Partitioned runs: the window a run owns (from its params) and the rows outside it.

A run of a `replace_partition` pipeline replaces the rows of `[partition_start,
partition_end)` with its own; a row it read that falls outside that window is not its
to write, so it is rejected with the reason, never loaded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from app.errors import InvalidInput
from app.etl.contract_rows import REASON, REJECT_SCHEMA, rejected_rows
from app.etl.warehouse.protocol import PartitionWindow

if TYPE_CHECKING:
    from collections.abc import Mapping

PARTITION_TYPES = "dates and datetimes"


class PartitionRequired(InvalidInput):
    """A replace_partition run without the window it replaces."""

    code = "PARTITION_REQUIRED"


def is_partition_type(dtype: pl.DataType) -> bool:
    return dtype == pl.Date or isinstance(dtype, pl.Datetime)


def window_of(column: str, params: Mapping[str, Any]) -> PartitionWindow:
    """The run's window from its params `partition_start` and `partition_end` (ISO 8601;
    a backfill passes them, `triggerRun` may)."""
    bounds = []
    for name in ("partition_start", "partition_end"):
        value = params.get(name)
        if not isinstance(value, str) or not value:
            raise PartitionRequired(
                f"mode replace_partition replaces one partition per run: the run needs the "
                f"params partition_start and partition_end (a backfill passes them); "
                f"{name} is missing",
                path=["params", name],
            )
        try:
            bounds.append(_naive_utc(datetime.fromisoformat(value)))
        except ValueError:
            raise PartitionRequired(
                f"param {name} must be an ISO 8601 date or time, not {value!r}",
                path=["params", name],
            ) from None
    start, end = bounds
    if end <= start:
        raise PartitionRequired(
            "param partition_end must be after partition_start", path=["params", "partition_end"]
        )
    return PartitionWindow(column=column, start=start, end=end)


def _naive_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _as_utc(column: str, dtype: pl.DataType) -> pl.Expr:
    """The column as naive UTC datetimes, to compare with the window's bounds."""
    value = pl.col(column)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return value.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return value.cast(pl.Datetime("us"))


def split_window(frame: pl.DataFrame, window: PartitionWindow) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows inside the window; the others as rejects with their reason and location)."""
    column = window.column
    if not frame.height:
        return frame, pl.DataFrame(schema=REJECT_SCHEMA)
    if column not in frame.columns:
        missing = f"partition column `{column}` is missing"
        judged = frame.with_columns(pl.lit(missing).alias(REASON))
        return frame.clear(), rejected_rows(frame, judged)
    dtype = frame.schema[column]
    if not is_partition_type(dtype):
        raise PartitionRequired(
            f"destination.partition_column: `{column}` is {dtype}; it must hold {PARTITION_TYPES}",
            path=["destination", "partition_column"],
        )
    moment = _as_utc(column, dtype)
    bounds = f"[{window.start.isoformat()}, {window.end.isoformat()})"
    reason = (
        pl.when(pl.col(column).is_null())
        .then(pl.lit(f"partition column `{column}` is null"))
        .when((moment < window.start) | (moment >= window.end))
        .then(
            pl.concat_str(
                pl.lit(f"partition column `{column}` value '"),
                pl.col(column).cast(pl.String),
                pl.lit(f"' is outside the run's partition {bounds}"),
            )
        )
    )
    judged = frame.with_columns(reason.alias(REASON))
    bad = judged.get_column(REASON).is_not_null()
    if not bad.any():
        return frame, pl.DataFrame(schema=REJECT_SCHEMA)
    return frame.filter(~bad), rejected_rows(frame.filter(bad), judged.filter(bad))
