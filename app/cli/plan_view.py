"""Showing a plan and its outcome: a diff for people, a document for scripts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape

from app.cli.output import err, out

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.cli.apply import Outcome
    from app.cli.plan import PipelinePlan, Plan, SourcePlan
    from app.pipeline_files import PipelineFileError

_ACTION_STYLE = {"create": "green", "update": "yellow", "unchanged": "dim"}


def show_plan(plan: Plan) -> None:
    for source in plan.sources.values():
        _show_source(source)
    for pipeline in plan.pipelines:
        _show_pipeline(pipeline)


def _heading(kind: str, name: str, action: str, note: str = "") -> None:
    style = _ACTION_STYLE[action]
    out.print(f"{kind} [bold]{escape(name)}[/]: [{style}]{action}[/]{note}", highlight=False)


def _show_source(plan: SourcePlan) -> None:
    _heading("source", plan.definition.name, plan.action)
    for change in plan.changes:
        out.print(f"    {escape(change)}", highlight=False)


def _show_pipeline(plan: PipelinePlan) -> None:
    note = ""
    if plan.action == "update" and plan.new_version and plan.existing is not None:
        note = f" (version {plan.existing['version']} -> {plan.existing['version'] + 1})"
    elif plan.action == "update":
        note = " (operations only: same version)"
    _heading("pipeline", plan.name, plan.action, f"{note}  [dim]{escape(str(plan.file.path))}[/]")
    if plan.action == "create":
        out.print(f"    source: {escape(plan.file.source.name)}", highlight=False)
    elif plan.source_change is not None:
        before, after = plan.source_change
        out.print(f"    source: {escape(str(before))} -> {escape(after)}", highlight=False)
    for name, (before, after) in plan.operations.items():
        out.print(f"    {name}: {_value(before)} -> {_value(after)}", highlight=False)
    for line in plan.spec_diff:
        out.print(f"    {_diff_line(line)}", highlight=False)


def _value(value: object) -> str:
    return "-" if value in (None, "") else escape(str(value))


def _diff_line(line: str) -> str:
    shown = escape(line)
    if line.startswith(("+++", "---")):
        return f"[bold]{shown}[/]"
    if line.startswith("+"):
        return f"[green]{shown}[/]"
    if line.startswith("-"):
        return f"[red]{shown}[/]"
    if line.startswith("@@"):
        return f"[cyan]{shown}[/]"
    return shown


def show_errors(errors: Sequence[PipelineFileError]) -> None:
    for error in errors:
        where = f"{escape(str(error.path))}:{error.line}"
        err.print(f"[red]{where}: {error.code}:[/] {escape(error.message)}", highlight=False)


def summary(plan: Plan) -> str:
    counts = {"create": 0, "update": 0, "unchanged": 0}
    for pipeline in plan.pipelines:
        counts[pipeline.action] += 1
    return (
        f"pipelines: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['unchanged']} unchanged"
    )


def applied_summary(outcomes: Sequence[Outcome]) -> str:
    """What happened, with the version each changed pipeline is at now."""
    done: dict[str, list[str]] = {"create": [], "update": [], "unchanged": []}
    failed = 0
    for outcome in outcomes:
        if outcome.error is not None or outcome.pipeline is None:
            failed += 1
            continue
        done[outcome.plan.action].append(f"{outcome.plan.name} v{outcome.pipeline['version']}")
    parts = [
        f"{len(done['create'])} created" + _names(done["create"]),
        f"{len(done['update'])} updated" + _names(done["update"]),
        f"{len(done['unchanged'])} unchanged",
    ]
    return "applied: " + ", ".join(parts) + (f", [red]{failed} failed[/]" if failed else "")


def _names(names: list[str]) -> str:
    return f" ({escape(', '.join(names))})" if names else ""


def plan_document(
    plan: Plan, outcomes: Sequence[Outcome] | None, errors: Sequence[PipelineFileError]
) -> dict[str, Any]:
    """The plan (and what happened) as JSON for scripts."""
    applied = {id(outcome.plan): outcome for outcome in outcomes or []}
    sources = [
        {"name": name, "action": source.action, "changes": source.changes}
        for name, source in plan.sources.items()
    ]
    problems = [
        {"file": str(e.path), "line": e.line, "code": e.code, "message": e.message} for e in errors
    ]
    return {
        "dryRun": outcomes is None,
        "sources": sources,
        "pipelines": [_pipeline_entry(p, applied.get(id(p))) for p in plan.pipelines],
        "errors": problems,
    }


def _pipeline_entry(planned: PipelinePlan, outcome: Outcome | None) -> dict[str, Any]:
    return {
        "name": planned.name,
        "file": str(planned.file.path),
        "action": planned.action,
        "newVersion": planned.new_version,
        "sourceChange": planned.source_change,
        "operations": {k: list(v) for k, v in planned.operations.items()},
        "specDiff": planned.spec_diff,
        "version": outcome.pipeline["version"] if outcome and outcome.pipeline else None,
        "applied": outcome is not None and outcome.error is None,
    }
