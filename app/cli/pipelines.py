"""Pipelines as files: `pipelines apply -f DIR`, and `pipelines list|show`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from app.cli.app import EXIT_ERROR, EXIT_USAGE, JsonOption, client
from app.cli.apply import apply_plan, validate_plan
from app.cli.output import err, moment, out, print_json, status, table
from app.cli.plan import make_plan
from app.cli.plan_view import applied_summary, plan_document, show_errors, show_plan, summary
from app.client.types import value_of
from app.pipeline_files import (
    OPERATIONS,
    SOURCE_KEYS,
    PipelineFile,
    PipelineFileError,
    find_files,
    load,
)

if TYPE_CHECKING:
    from app.cli.app import Cli
    from app.cli.apply import Outcome
    from app.cli.plan import Plan
    from app.client.types import Pipeline

pipelines_cli = typer.Typer(
    help="Define pipelines from files, and inspect them.", no_args_is_help=True
)


@pipelines_cli.command("apply")
def apply(
    ctx: typer.Context,
    files: Annotated[
        list[str],
        typer.Option("--file", "-f", help="A pipeline file, or a folder of *.yaml; repeatable."),
    ],
    dry_run: Annotated[bool, typer.Option(help="Show what would change; change nothing.")] = False,
    json: JsonOption = False,
) -> None:
    """Create or update pipelines and their sources from YAML files, by name.

    Shows what changes (a diff); exits 1 naming the file and line of an invalid spec.
    """
    loaded, errors = _load_all(_pipeline_paths(files))
    api = client(ctx)
    plan = make_plan(loaded, api.sources(), api.pipelines())
    errors.extend(plan.errors)
    outcomes = None if dry_run else apply_plan(api, plan)
    errors.extend(o.error for o in outcomes or [] if o.error is not None)
    if dry_run:
        errors.extend(validate_plan(api, plan))
        errors.sort(key=lambda error: (str(error.path), error.line))
    _show_applied(plan, outcomes, errors, json=json)
    if errors:
        raise typer.Exit(EXIT_ERROR)


def _pipeline_paths(files: list[str]) -> list[Path]:
    paths = find_files(Path(name) for name in files)
    if not paths:
        err.print("[red]no pipeline files[/] (*.yaml, *.yml) in " + ", ".join(map(str, files)))
        raise typer.Exit(EXIT_USAGE)
    return paths


def _show_applied(
    plan: Plan,
    outcomes: list[Outcome] | None,
    errors: list[PipelineFileError],
    *,
    json: bool,
) -> None:
    """The plan and what came of it (None: a dry run), then every error."""
    if json:
        print_json(plan_document(plan, outcomes, errors))
    else:
        show_plan(plan)
        if outcomes is None:
            out.print(f"dry run, nothing changed: {summary(plan)}", highlight=False)
        else:
            out.print(applied_summary(outcomes), highlight=False)
    show_errors(errors)


def _load_all(paths: list[Path]) -> tuple[list[PipelineFile], list[PipelineFileError]]:
    loaded: list[PipelineFile] = []
    errors: list[PipelineFileError] = []
    for path in paths:
        try:
            loaded.append(load(path))
        except PipelineFileError as error:
            errors.append(error)
    return loaded, errors


@pipelines_cli.command("list")
def list_pipelines(ctx: typer.Context, json: JsonOption = False) -> None:
    """Every pipeline, with its source, schedule and last run."""
    pipelines = client(ctx).pipelines()
    if json:
        print_json(pipelines)
        return
    columns = ["name", "version", "source", "schedule", "last run", "at"]
    table(columns, [_pipeline_row(pipeline) for pipeline in pipelines])


def _pipeline_row(pipeline: Pipeline) -> list[object]:
    last = pipeline["lastRun"]
    schedule = f"{pipeline['schedule']} ({pipeline['timezone']})" if pipeline["schedule"] else None
    return [
        pipeline["name"],
        pipeline["version"],
        pipeline["source"]["name"] if pipeline["source"] else None,
        schedule,
        status(last["status"]) if last else None,
        moment(last["createdAt"]) if last else None,
    ]


@pipelines_cli.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline's name.")],
    as_file: Annotated[
        bool, typer.Option("--yaml", help="Print it as a pipeline file for `apply`.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """One pipeline: source, operations, spec and versions."""
    api = client(ctx)
    pipeline = api.pipeline_by_name(name)
    if as_file:
        out.print(yaml.safe_dump(as_pipeline_file(pipeline), sort_keys=False), highlight=False)
        return
    versions = api.pipeline_versions(pipeline["id"])
    if json:
        print_json({**pipeline, "versions": versions})
        return
    source = pipeline["source"]
    fields: list[list[object]] = [
        ["id", pipeline["id"]],
        ["version", pipeline["version"]],
        ["source", f"{source['name']} ({source['kind']}: {source['uri']})" if source else None],
        *[[key, value_of(pipeline, api)] for key, api in OPERATIONS.items()],
        ["updated", moment(pipeline["updatedAt"])],
    ]
    table(["field", "value"], fields, title=f"pipeline {name}")
    out.print(yaml.safe_dump(pipeline["spec"], sort_keys=False), highlight=False)
    rows = [[v["version"], v["sourceId"], moment(v["createdAt"])] for v in versions]
    table(["version", "source id", "created"], rows, title="versions")


def as_pipeline_file(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline in the shape `apply` reads: what a new file can start from."""
    source = pipeline["source"]
    document: dict[str, Any] = {"name": pipeline["name"]}
    if source is not None:
        document["source"] = {key: value_of(source, key) for key in SOURCE_KEYS}
    document.update(pipeline["spec"])
    for key, api in OPERATIONS.items():
        value = value_of(pipeline, api)
        if value is not None:
            document[key] = value
    return document


def register(cli: Cli) -> None:
    cli.add_typer(pipelines_cli, name="pipelines", rich_help_panel="Catalog")
