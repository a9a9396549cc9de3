"""Terminal output: rich tables on stdout, messages on stderr, JSON for scripts."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# Results go to stdout (pipe them); progress, hints and errors go to stderr.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "CANCELLED": "yellow",
    "CANCELLING": "yellow",
    "RUNNING": "cyan",
    "QUEUED": "blue",
}


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(
    columns: Sequence[str], rows: Iterable[Sequence[object]], title: str | None = None
) -> None:
    """A rich table of plain values (None shows as a dash). Narrow terminals wrap cells
    rather than cut them: an id that is cut short cannot be pasted into the next command."""
    shown = Table(title=title, title_justify="left")
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*("-" if value is None else str(value) for value in row))
    out.print(shown)


def status(value: str) -> str:
    style = STATUS_STYLE.get(value)
    return f"[{style}]{value}[/]" if style else value


def moment(value: str | None) -> str | None:
    """An API timestamp, to the second, in UTC."""
    if value is None:
        return None
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str | None:
    if value is None:
        return None
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes}m {rest:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def duration(start: str | None, end: str | None) -> str | None:
    if start is None or end is None:
        return None
    elapsed = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return seconds(elapsed.total_seconds())


def count(value: float | None) -> str | None:
    return None if value is None else f"{round(value):,}"
