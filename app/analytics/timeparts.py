"""Time in analytics: the query's timezone, truncation to a granularity, bucket counts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from app.analytics.query import Granularity

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.analytics.members import Member


def bucket_sql(
    granularity: Granularity, local: str, *, calendar_parts: bool = True
) -> tuple[str, tuple[str, ...]]:
    """The bucket a row's wall time `local` falls in, and what to group by for it.

    Grouping by calendar parts (year, month, the date) and building the bucket from them
    once per group is 1.5-2.5x faster in DuckDB than date_trunc on every row; weeks and
    hours have no cheaper form. (PostgreSQL is the other way round: its extract is
    numeric and slow, so `calendar_parts=False` gives it date_trunc.) The units and
    shapes are fixed text chosen by the enum, never client text.
    """
    if not calendar_parts:
        return f"date_trunc('{granularity.value}', {local})", ()
    year = f"extract(year FROM {local})"
    if granularity is Granularity.YEAR:
        return f"CAST(make_date(CAST({year} AS INTEGER), 1, 1) AS TIMESTAMP)", (year,)
    if granularity in {Granularity.QUARTER, Granularity.MONTH}:
        part = "quarter" if granularity is Granularity.QUARTER else "month"
        number = f"extract({part} FROM {local})"
        month = f"{number} * 3 - 2" if part == "quarter" else number
        start = f"make_date(CAST({year} AS INTEGER), CAST({month} AS INTEGER), 1)"
        return f"CAST({start} AS TIMESTAMP)", (year, number)
    if granularity is Granularity.DAY:
        day = f"CAST({local} AS DATE)"
        return f"CAST({day} AS TIMESTAMP)", (day,)
    unit = "'week'" if granularity is Granularity.WEEK else "'hour'"
    return f"date_trunc({unit}, {local})", ()


def parse_moment(value: object) -> datetime | None:
    """An ISO date or date-time, or None when it is not one."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# Moments a query may name: a timezone shift or a day's step from here stays a datetime
# (Python's range is years 1-9999; past it, arithmetic is an OverflowError).
MIN_MOMENT = datetime(1, 1, 3)
MAX_MOMENT = datetime(9999, 12, 29)


def out_of_range(moment: datetime) -> str | None:
    """Why a moment cannot be used (outside MIN_MOMENT..MAX_MOMENT), or None."""
    if MIN_MOMENT <= moment.replace(tzinfo=None) <= MAX_MOMENT:
        return None
    return (
        f"{moment.isoformat()} is outside the supported range "
        f"{MIN_MOMENT.date().isoformat()} to {MAX_MOMENT.date().isoformat()}"
    )


def to_utc_naive(moment: datetime, timezone: str) -> datetime:
    """A naive moment is wall time in the query's timezone; the result is naive UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC).replace(tzinfo=None)


def column_value(moment: datetime, member: Member, timezone: str) -> datetime | date:
    """A moment in the form the member's column compares with, so the raw column is
    filtered (and Parquet statistics can skip row groups)."""
    utc = to_utc_naive(moment, timezone)
    if member.sql_type == "DATE":
        local = utc.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
        # A date is in range when any of its day is: round a mid-day bound up.
        return local.date() + timedelta(days=1 if local.time() != datetime.min.time() else 0)
    if member.zoned:
        return utc.replace(tzinfo=UTC)
    return utc  # naive timestamps are UTC


def local_sql(expression: str, member: Member, timezone: str, tz_param: str) -> str:
    """The expression as wall time in the query's timezone (naive timestamps are UTC)."""
    if member.sql_type == "DATE":
        return expression
    if member.zoned:
        return f"timezone({tz_param}, {expression})"
    if timezone == "UTC":
        return expression
    return f"timezone({tz_param}, timezone('UTC', {expression}))"


MAX_TRANSITIONS = 64
MAX_SPAN = timedelta(days=50 * 366)


@lru_cache(maxsize=256)
def utc_offsets(
    timezone: str, start: datetime, end: datetime
) -> tuple[tuple[datetime, ...], tuple[timedelta, ...]] | None:
    """The zone's UTC offset over [start, end] (naive UTC): the instants it changes at,
    and the offset before, between and after them; None past MAX_TRANSITIONS."""
    if end - start > MAX_SPAN:
        return None
    zone = ZoneInfo(timezone)

    def offset(moment: datetime) -> timedelta:
        return moment.replace(tzinfo=UTC).astimezone(zone).utcoffset() or timedelta(0)

    changes: list[datetime] = []
    offsets = [offset(start)]
    day = start
    while day < end:
        following = min(day + timedelta(days=1), end)
        if offset(following) != offsets[-1]:
            low, high = day, following  # the change is in (low, high]: bisect to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == offsets[-1] else (low, middle)
            changes.append(high.replace(microsecond=0))
            offsets.append(offset(following))
            if len(changes) > MAX_TRANSITIONS:
                return None
        day = following
    return tuple(changes), tuple(offsets)


def offset_sql(
    column: str, timezone: str, start: datetime, end: datetime, bind: Callable[[Any], str]
) -> str | None:
    """`column` (naive UTC) plus the zone's offset at each row, as a CASE over the
    offset's changes within [start, end]; None when there are too many to list."""
    offsets = utc_offsets(timezone, start, end)
    if offsets is None:
        return None
    changes, values = offsets
    if not changes:
        return f"({column} + CAST({bind(values[0])} AS INTERVAL))"
    branches = " ".join(
        f"WHEN {column} < {bind(change)} THEN CAST({bind(value)} AS INTERVAL)"
        for change, value in zip(changes, values, strict=False)
    )
    return f"({column} + CASE {branches} ELSE CAST({bind(values[-1])} AS INTERVAL) END)"


def bucket_count(start: datetime, end: datetime, granularity: Granularity) -> int:
    """How many buckets of `granularity` a [start, end] span touches (an upper bound)."""
    if end < start:
        return 0
    months = (end.year - start.year) * 12 + end.month - start.month
    if granularity is Granularity.YEAR:
        return end.year - start.year + 1
    if granularity is Granularity.QUARTER:
        return months // 3 + 2
    if granularity is Granularity.MONTH:
        return months + 1
    step = {Granularity.WEEK: 7 * 86400, Granularity.DAY: 86400, Granularity.HOUR: 3600}
    return math.floor((end - start).total_seconds() / step[granularity]) + 2
