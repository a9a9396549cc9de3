"""Runs: `runs trigger NAME --follow`, and `runs list|show|cancel|retry|logs`."""

from __future__ import annotations

import json as jsonlib
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from app.cli.app import JsonOption, client
from app.cli.follow import describe, exit_code, follow, report_end
from app.cli.output import duration, err, moment, out, print_json, status, table
from app.cli.sources import parse_options

if TYPE_CHECKING:
    from app.cli.app import Cli
    from app.client import DataFlowClient
    from app.client.types import Run

runs_cli = typer.Typer(help="Trigger, follow and steer runs.", no_args_is_help=True)
FollowOption = Annotated[
    bool,
    typer.Option(
        "--follow",
        help="Show live progress until the run ends; exit 0 if it succeeded, "
        "1 if it failed, 4 if it was cancelled.",
    ),
]
RunId = Annotated[
    str, typer.Argument(help="The run's id, or its first characters (at least 4) if unique.")
]
SHORT_ID = 8  # what tables show of a run id: enough to tell runs apart, and to type
STATUSES = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED"]


@runs_cli.command("trigger")
def trigger(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="The pipeline's name.")],
    follow_run: FollowOption = False,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same key returns the same run.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value run parameter.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Start a run of a pipeline; prints the run id (with --follow, how it ended)."""
    api = client(ctx)
    run = api.trigger_run(api.pipeline_by_name(pipeline)["id"], key, parse_options(param or []))
    _then(api, run, follow_run, json)


def _then(
    api: DataFlowClient, run: Run, follow_run: bool, json: bool, after: str | None = None
) -> None:
    """Print the run; or follow it to its end and exit with the code its end deserves."""
    err.print(f"run {run['id']} of {_pipeline(run)} ({status(run['status'])})", highlight=False)
    if follow_run:
        try:
            run = follow(api, run["id"], after)
        except KeyboardInterrupt:
            err.print(f"stopped following; the run goes on: dataflow runs show {run['id']}")
            raise typer.Exit(130) from None
        report_end(run)
    if json:
        print_json(run)
    else:
        out.print(run["id"], highlight=False)
    if follow_run:
        raise typer.Exit(exit_code(run))


def _pipeline(run: Run) -> str:
    return run["pipeline"]["name"] if run["pipeline"] else "?"


@runs_cli.command("list")
def list_runs(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline's runs.")] = None,
    state: Annotated[
        list[str] | None, typer.Option("--status", help=f"Only these: {', '.join(STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first (at most 200).")] = 20,
    json: JsonOption = False,
) -> None:
    """Recent runs, newest first."""
    api = client(ctx)
    where = {
        "pipelineId": api.pipeline_by_name(pipeline)["id"] if pipeline else None,
        "statuses": [s.upper() for s in state] if state else None,
    }
    runs = api.runs(limit, where)
    if json:
        print_json(runs)
        return
    columns = ["id", "pipeline", "status", "attempt", "created", "took", "rows written", "error"]
    table(columns, [_run_row(run) for run in runs])


def _run_row(run: Run) -> list[object]:
    return [
        run["id"][:SHORT_ID],
        _pipeline(run),
        status(run["status"]),
        run["attempt"],
        moment(run["createdAt"]),
        duration(run["startedAt"], run["finishedAt"]),
        f"{run['rowsWritten']:,}",
        run["error"]["code"] if run["error"] else None,
    ]


@runs_cli.command("show")
def show(ctx: typer.Context, run_id: RunId, json: JsonOption = False) -> None:
    """One run: status, counters, timings, error."""
    api = client(ctx)
    run = api.run(api.run_id(run_id))
    if json:
        print_json(run)
        return
    error = run["error"]
    fields: list[list[object]] = [
        ["pipeline", f"{_pipeline(run)} (version {run['pipelineVersion']})"],
        ["status", status(run["status"])],
        ["attempt", run["attempt"]],
        ["stage", run["stage"]],
        ["rows read / written", f"{run['rowsRead']:,} / {run['rowsWritten']:,}"],
        ["rows filtered / rejected", f"{run['rowsFiltered']:,} / {run['rowsRejected']:,}"],
        ["params", jsonlib.dumps(run["params"]) if run["params"] else None],
        ["created", moment(run["createdAt"])],
        ["scheduled for", moment(run["scheduledFor"])],
        ["started", moment(run["startedAt"])],
        ["finished", moment(run["finishedAt"])],
        ["took", duration(run["startedAt"], run["finishedAt"])],
        ["error", f"{error['code']}: {escape(error['message'])}" if error else None],
    ]
    table(["field", "value"], fields, title=f"run {run['id']}")


@runs_cli.command("cancel")
def cancel(ctx: typer.Context, run_id: RunId, json: JsonOption = False) -> None:
    """Cancel a run: a queued one ends at once, a running one stops between batches."""
    api = client(ctx)
    run = api.cancel_run(api.run_id(run_id))
    if json:
        print_json(run)
        return
    err.print(f"run {run['id']} is {status(run['status'])}", highlight=False)


@runs_cli.command("retry")
def retry(
    ctx: typer.Context, run_id: RunId, follow_run: FollowOption = False, json: JsonOption = False
) -> None:
    """Queue a failed or cancelled run again, as its next attempt."""
    api = client(ctx)
    run_id = api.run_id(run_id)
    # Follow from the current end of its log, not through the attempt that already ended.
    events = api.run_events(run_id) if follow_run else []
    run = api.retry_run(run_id)
    _then(api, run, follow_run, json, after=events[-1]["id"] if events else None)


@runs_cli.command("logs")
def logs(
    ctx: typer.Context,
    run_id: RunId,
    follow_run: Annotated[
        bool, typer.Option("--follow", help="Keep printing events until the run ends.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """A run's events, oldest first: stages, progress, retries, the end."""
    api = client(ctx)
    run_id = api.run_id(run_id)
    events = api.follow_run(run_id) if follow_run else iter(api.run_events(run_id))
    for event in events:
        if json:  # one JSON document per line, as they come
            sys.stdout.write(jsonlib.dumps(event) + "\n")
            sys.stdout.flush()
            continue
        detail = (describe(event) or "").strip() or escape(jsonlib.dumps(event["payload"]))
        out.print(f"{moment(event['at'])}  {event['kind']:<16} {detail}", highlight=False)
    if follow_run:
        run = api.run(run_id)
        report_end(run)
        raise typer.Exit(exit_code(run))


def register(cli: Cli) -> None:
    cli.add_typer(runs_cli, name="runs", rich_help_panel="Runs")
