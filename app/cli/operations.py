"""Operator commands: `backfill`, `cleanup --older-than`, `report`."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from app.cli.app import EXIT_ERROR, EXIT_USAGE, JsonOption, client
from app.cli.output import count, err, out, print_json, seconds, table

if TYPE_CHECKING:
    from app.cli.app import Cli
    from app.client import DataFlowClient
    from app.client.types import Backfill, PipelineReport
    from app.config import Settings

STEPS = ("hour", "day", "week", "month")
POLL_SECONDS = 1.0


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `90m` or `45s` as a duration."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r} is not an age like 30d, 12h, 90m or 45s")
    return timedelta(**{units[unit]: int(number)})


def parse_moment(text: str, option: str) -> str:
    """A date or date-time as ISO 8601 with an offset; no offset means UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date like 2026-01-31 or 2026-01-31T06:00", param_hint=option
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def backfill(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="The pipeline's name.")],
    start: Annotated[str, typer.Option("--from", help="First partition (inclusive), UTC.")],
    end: Annotated[str, typer.Option("--to", help="End (exclusive), UTC unless an offset.")],
    step: Annotated[str, typer.Option(help="hour, day, week or month.")] = "day",
    wait: Annotated[
        bool, typer.Option(help="Show progress until every run ended; exit 1 if any failed.")
    ] = False,
    allow_unsafe_mode: Annotated[
        bool,
        typer.Option(
            "--allow-unsafe-mode",
            help="Backfill even a pipeline in mode replace (keeps only the last partition) "
            "or append (duplicates a partition loaded before); refused without it.",
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """One run per partition of [from, to), each passed its partition as params."""
    if step.lower() not in STEPS:
        raise typer.BadParameter(f"{step!r} is not one of {', '.join(STEPS)}", param_hint="--step")
    api = client(ctx)
    started = api.backfill(
        api.pipeline_by_name(pipeline)["id"],
        parse_moment(start, "--from"),
        parse_moment(end, "--to"),
        step.upper(),
        allow_unsafe_mode=allow_unsafe_mode,
    )
    err.print(f"backfill {started['id']}: {started['partitions']} runs queued", highlight=False)
    final = _wait(api, started) if wait else started
    if json:
        print_json(final)
    else:
        out.print(final["id"], highlight=False)
    if wait:
        _exit_unless_all_succeeded(final, pipeline)


def _exit_unless_all_succeeded(final: Backfill, pipeline: str) -> None:
    progress = final["progress"]
    if progress["succeeded"] != progress["total"]:
        err.print(
            f"[red]{progress['failed']} failed, {progress['cancelled']} cancelled[/] "
            f"of {progress['total']}: dataflow runs list --pipeline {pipeline} --status failed"
        )
        raise typer.Exit(EXIT_ERROR)


def _wait(api: DataFlowClient, started: Backfill) -> Backfill:
    """Poll the backfill's progress (a whole, not a stream) until every run ended."""
    columns = (
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
    )
    current = started
    with Progress(*columns, console=err) as bar:
        task = bar.add_task("backfill", total=started["partitions"], note="")
        while True:
            progress = current["progress"]
            ended = progress["succeeded"] + progress["failed"] + progress["cancelled"]
            note = f"{progress['running']} running, {progress['failed']} failed"
            bar.update(task, completed=ended, note=note)
            if progress["done"]:
                return current
            time.sleep(POLL_SECONDS)
            current = api.backfill_status(started["id"])


def cleanup(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age such as 30d, 12h or 90m.")
    ] = "30d",
) -> None:
    """Delete finished runs (and their events) older than an age; never a live one.

    Works on the metadata database directly (DATABASE_URL): the API has no cleanup.
    """
    from app.cli.database import database_errors, require_migrated
    from app.cli.processes import settings_or_exit

    settings = settings_or_exit()
    try:
        age = parse_age(older_than)
    except ValueError as error:
        err.print(f"[red]--older-than:[/] {error}")
        raise typer.Exit(EXIT_USAGE) from None
    require_migrated(settings)
    with database_errors(settings):
        runs, events, records = asyncio.run(_remove_finished_runs(settings, age))
    what = f"{runs} runs, {events} events and {records} warehouse records"
    err.print(f"removed {what} older than {older_than}")


async def _remove_finished_runs(settings: Settings, age: timedelta) -> tuple[int, int, int]:
    """(runs, events, warehouse records) removed: the runs that ended before `age` ago."""
    from app.db import session_scope
    from app.models.base import utcnow
    from app.services import retention

    async with session_scope(settings) as session:
        run_ids = await retention.finished_before(session=session, cutoff=utcnow() - age)
    if not run_ids:
        return 0, 0, 0
    # The warehouse first (rejects and ledger rows; loaded rows stay), so that if it
    # cannot be reached the runs stay listed and the next cleanup tries again.
    forgotten = await _forget_in_warehouse(settings, run_ids)
    async with session_scope(settings) as session:
        removed = await retention.remove(session=session, run_ids=run_ids)
    return removed.runs, removed.events, forgotten


async def _forget_in_warehouse(settings: Settings, run_ids: list[str]) -> int:
    from app.errors import DataFlowError
    from app.etl.warehouse import open_warehouse

    warehouse = open_warehouse(settings.warehouse_target)
    try:
        return await warehouse.forget_runs(run_ids)
    except DataFlowError as error:
        # E.g. the embedded warehouse is locked while `dataflow dev` runs.
        err.print(f"[red]nothing removed:[/] {error.code}: {error.message}")
        raise typer.Exit(EXIT_ERROR) from None
    finally:
        await warehouse.close()


def report(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only runs created in this last age, e.g. 7d or 24h.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Per pipeline: runs, success rate, p50/p95 duration, rows loaded and rejected.

    Durations and rows count succeeded runs (a failed run leaves the warehouse as it was).
    """
    cutoff = None
    if since is not None:
        try:
            cutoff = (datetime.now(UTC) - parse_age(since)).isoformat()
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--since") from None
    rows = client(ctx).report(cutoff)
    if json:
        print_json(rows)
        return
    columns = ["pipeline", "runs", "ok", "failed", "cancelled", "success", "p50", "p95"]
    table([*columns, "rows loaded", "rows rejected"], [_report_row(row) for row in rows])


def _report_row(row: PipelineReport) -> list[object]:
    rate = row["successRate"]
    return [
        row["pipelineName"],
        row["runs"],
        row["succeeded"],
        row["failed"],
        row["cancelled"],
        None if rate is None else f"{rate:.0%}",
        seconds(row["p50DurationSeconds"]),
        seconds(row["p95DurationSeconds"]),
        count(row["rowsLoaded"]),
        count(row["rowsRejected"]),
    ]


def register(cli: Cli) -> None:
    cli.command(rich_help_panel="Operations")(backfill)
    cli.command(rich_help_panel="Operations")(cleanup)
    cli.command(rich_help_panel="Operations")(report)
