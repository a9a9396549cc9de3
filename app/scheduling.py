"""Cron schedules with a timezone: validate them, and list the ticks in a time window."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter

from app.errors import InvalidInput

# A pipeline scheduled more often than this is refused: runs would pile up.
MIN_INTERVAL_SECONDS = 60


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown timezone {name!r}", path=["timezone"]) from None


def check_schedule(cron: str, timezone: str) -> None:
    """A five-field cron expression, in an IANA timezone; raises `InvalidInput`."""
    tz = zone(timezone)
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise InvalidInput(
            f"schedule {cron!r} is not a five-field cron expression", path=["schedule"]
        )
    start = datetime(2026, 1, 1, tzinfo=tz)
    ticks = croniter(cron, start)
    first, second = ticks.get_next(datetime), ticks.get_next(datetime)
    if (second - first).total_seconds() < MIN_INTERVAL_SECONDS:
        raise InvalidInput("a schedule may fire at most once a minute", path=["schedule"])


def ticks_between(cron: str, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    """Ticks t with after < t <= until, in UTC (DST handled in the schedule's zone)."""
    try:
        ticks = croniter(cron, after.astimezone(zone(timezone)))
    except CroniterBadCronError:
        raise InvalidInput(f"schedule {cron!r} is invalid", path=["schedule"]) from None
    found: list[datetime] = []
    while (tick := ticks.get_next(datetime)) <= until:
        found.append(tick.astimezone(UTC))
    return found
