"""Following a run live: a rich progress bar (stage, rows, rate) fed by `runEvents`, and
the exit code its end deserves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from app.cli.app import EXIT_CANCELLED, EXIT_ERROR
from app.cli.output import duration, err, status
from app.event_types import EventKind

if TYPE_CHECKING:
    from app.client import DataFlowClient
    from app.client.types import Run, RunEvent

_COUNTERS = {
    "rows_read": "read",
    "rows_written": "written",
    "rows_filtered": "filtered",
    "rows_rejected": "rejected",
}


@dataclass
class _Tally:
    """What the events said so far; the rate is rows read per second since the start."""

    stage: str = "queued"
    started: datetime | None = None
    rate: float | None = None
    rows_read: int = 0
    rows_written: int = 0

    def take(self, event: RunEvent) -> None:
        at = datetime.fromisoformat(event["at"])
        if event["kind"] == EventKind.RUN_STARTED:
            self.started, self.stage = at, "started"
        payload = event["payload"]
        if event["stage"] and event["kind"] in {EventKind.STAGE_STARTED, EventKind.PROGRESS}:
            self.stage = event["stage"]
        if event["kind"] in {EventKind.RUN_FINISHED, EventKind.RUN_RETRYING}:
            self.stage = str(payload.get("status") or "retrying")
        self.rows_read = int(payload.get("rows_read", self.rows_read))
        self.rows_written = int(payload.get("rows_written", self.rows_written))
        if self.started is not None and at > self.started:
            self.rate = self.rows_read / (at - self.started).total_seconds()

    def rows(self) -> str:
        return f"{self.rows_read:,} rows read, {self.rows_written:,} written"

    def speed(self) -> str:
        return f"{self.rate:,.0f} rows/s" if self.rate is not None else ""


def follow(api: DataFlowClient, run_id: str, after: str | None = None) -> Run:
    """Show the run's progress until it ends (on stderr); return the run as it ended."""
    tally = _Tally()
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<9}"),
        BarColumn(),
        TextColumn("{task.fields[rows]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as progress:
        task = progress.add_task(tally.stage, total=None, rows=tally.rows(), rate="")
        for event in api.follow_run(run_id, after):
            tally.take(event)
            note = describe(event)
            if note:
                progress.console.print(note, highlight=False)
            progress.update(task, description=tally.stage, rows=tally.rows(), rate=tally.speed())
        progress.update(task, total=1, completed=1)
    return api.run(run_id)


def describe(event: RunEvent) -> str | None:
    """A line for the events worth a line of their own (not every progress tick)."""
    kind, payload, stage = event["kind"], event["payload"], escape(event["stage"] or "")
    if kind == EventKind.STAGE_STARTED:
        return f"  {stage} started"
    if kind == EventKind.STAGE_FINISHED:
        counts = ", ".join(f"{payload[k]:,} rows {v}" for k, v in _COUNTERS.items() if k in payload)
        return f"  {stage} finished" + (f": {counts}" if counts else "")
    if kind == EventKind.RUN_RETRYING:
        reason = escape(f"{payload.get('reason')}: {payload.get('message')}")
        return (
            f"  [yellow]attempt failed, retrying as attempt {payload.get('attempt')}:[/] {reason}"
        )
    if kind == EventKind.CANCEL_REQUESTED:
        return "  [yellow]cancel requested[/]"
    return None


def exit_code(run: Run) -> int:
    if run["status"] == "SUCCEEDED":
        return 0
    return EXIT_CANCELLED if run["status"] == "CANCELLED" else EXIT_ERROR


def report_end(run: Run) -> None:
    """One line on how the run ended; a failure's `CODE: message` on the next."""
    took = duration(run["startedAt"], run["finishedAt"])
    counts = (
        f"{run['rowsRead']:,} rows read, {run['rowsWritten']:,} written, "
        f"{run['rowsFiltered']:,} filtered, {run['rowsRejected']:,} rejected"
    )
    err.print(
        f"run {run['id']} {status(run['status'])}: {counts}" + (f" in {took}" if took else ""),
        highlight=False,
    )
    if run["error"] is not None:
        err.print(f"[red]{run['error']['code']}:[/] {escape(run['error']['message'])}")
