"""Carrying out a plan through the API: sources first, then pipelines; an API error is
reported at the file and line its `path` points to, and the other files still apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.client import ApiError
from app.pipeline_files import PipelineFileError

if TYPE_CHECKING:
    from app.cli.plan import PipelinePlan, Plan, SourcePlan
    from app.client import DataFlowClient
    from app.client.types import Pipeline


@dataclass(frozen=True)
class Outcome:
    plan: PipelinePlan
    pipeline: Pipeline | None
    error: PipelineFileError | None


def apply_plan(api: DataFlowClient, plan: Plan) -> list[Outcome]:
    source_ids: dict[str, str] = {}
    source_errors: dict[str, ApiError] = {}
    for name, planned in plan.sources.items():
        try:
            source_ids[name] = _apply_source(api, planned)
        except ApiError as error:
            source_errors[name] = error
    outcomes: list[Outcome] = []
    for planned_pipeline in plan.pipelines:
        file = planned_pipeline.file
        failed = source_errors.get(file.source.name)
        if failed is not None:
            line = file.line_of_api_error(failed.path, in_source=True)
            problem = PipelineFileError(file.path, line, failed.code, failed.message)
            outcomes.append(Outcome(planned_pipeline, None, problem))
            continue
        try:
            pipeline = _apply_pipeline(api, planned_pipeline, source_ids[file.source.name])
        except ApiError as failure:
            line = file.line_of_api_error(failure.path)
            problem = PipelineFileError(file.path, line, failure.code, failure.message)
            outcomes.append(Outcome(planned_pipeline, None, problem))
            continue
        outcomes.append(Outcome(planned_pipeline, pipeline, None))
    return outcomes


def validate_plan(api: DataFlowClient, plan: Plan) -> list[PipelineFileError]:
    """Every planned pipeline checked by the server as applying it would be (its source
    as the files declare it), changing nothing: what `apply --dry-run` reports."""
    errors: list[PipelineFileError] = []
    for planned in plan.pipelines:
        file = planned.file
        try:
            api.validate_pipeline(_draft(planned, plan.sources[file.source.name]))
        except ApiError as failure:
            line = file.line_of_api_error(failure.path)
            errors.append(PipelineFileError(file.path, line, failure.code, failure.message))
    return errors


def _draft(planned: PipelinePlan, source: SourcePlan) -> dict[str, Any]:
    definition = source.definition
    declared = {"kind": definition.kind, "uri": definition.uri, "options": definition.options}
    file = planned.file
    operations = file.operations
    if planned.existing is None:
        operations = {k: v for k, v in operations.items() if v != ""}
    return {
        "name": file.name,
        "id": planned.existing["id"] if planned.existing else None,
        "source": {"name": definition.name, **{k: v for k, v in declared.items() if v is not None}},
        "spec": file.spec,
        "operations": operations or None,
    }


def _apply_source(api: DataFlowClient, planned: SourcePlan) -> str:
    if planned.action == "create":
        return api.create_source(planned.fields)["id"]
    assert planned.existing is not None
    if planned.action == "update":
        return api.update_source(planned.existing["id"], planned.fields)["id"]
    return planned.existing["id"]


def _apply_pipeline(api: DataFlowClient, planned: PipelinePlan, source_id: str) -> Pipeline:
    file = planned.file
    if planned.action == "create":
        # No schedule is the default: the API's "" (remove) means nothing on a create.
        operations = {k: v for k, v in file.operations.items() if v != ""}
        fields: dict[str, Any] = {
            "name": file.name,
            "sourceId": source_id,
            "spec": file.spec,
            "operations": operations or None,
        }
        return api.create_pipeline(fields)
    assert planned.existing is not None
    if planned.action == "unchanged":
        return planned.existing
    changes: dict[str, Any] = {}
    if planned.spec_diff:
        changes["spec"] = file.spec
    if planned.source_change is not None:
        changes["sourceId"] = source_id
    if planned.operations:
        changes["operations"] = {name: new for name, (_, new) in planned.operations.items()}
    return api.update_pipeline(planned.existing["id"], changes)
