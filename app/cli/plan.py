"""What `pipelines apply` would change: the files compared with the API's sources and
pipelines, by name. Pure: it reads nothing and sends nothing."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import yaml

from app.client.types import value_of
from app.pipeline_files import PipelineFile, PipelineFileError, SourceDefinition

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from app.client.types import Pipeline, Source

Action = Literal["create", "update", "unchanged"]
REDACTED = "***"  # what the API shows in source options instead of a credential


@dataclass
class SourcePlan:
    definition: SourceDefinition
    file: PipelineFile  # the first file that names it: where its errors point
    existing: Source | None
    action: Action
    # What to send: every field for a create, the changed ones for an update.
    fields: dict[str, Any] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)  # for people: "uri: a -> b"


@dataclass
class PipelinePlan:
    file: PipelineFile
    existing: Pipeline | None
    action: Action
    spec_diff: list[str] = field(default_factory=list)
    source_change: tuple[str | None, str] | None = None  # (from, to) source names
    operations: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # (from, to)

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def new_version(self) -> bool:
        """The API makes a new version when the spec or the source changes."""
        return bool(self.spec_diff) or self.source_change is not None


@dataclass
class Plan:
    sources: dict[str, SourcePlan]
    pipelines: list[PipelinePlan]
    errors: list[PipelineFileError]

    @property
    def changes(self) -> int:
        sources = sum(source.action != "unchanged" for source in self.sources.values())
        return sources + sum(pipeline.action != "unchanged" for pipeline in self.pipelines)


def make_plan(
    files: Sequence[PipelineFile], sources: Sequence[Source], pipelines: Sequence[Pipeline]
) -> Plan:
    plan = Plan(sources={}, pipelines=[], errors=[])
    by_source = {source["name"]: source for source in sources}
    by_pipeline = {pipeline["name"]: pipeline for pipeline in pipelines}
    # Files that define a source go first, so one that only names it may come earlier in
    # the folder.
    source_of: dict[Path, SourcePlan] = {}
    for file in sorted(files, key=lambda file: not file.source.defined):
        try:
            source_of[file.path] = _plan_source(plan, file, by_source.get(file.source.name))
        except PipelineFileError as error:
            plan.errors.append(error)
    seen: dict[str, PipelineFile] = {}
    for file in files:
        if file.path not in source_of:
            continue
        if file.name in seen:
            message = f"{seen[file.name].path} also defines {file.name!r}"
            plan.errors.append(file.error(["name"], "NAME_TAKEN", message))
            continue
        seen[file.name] = file
        plan.pipelines.append(
            _plan_pipeline(file, by_pipeline.get(file.name), source_of[file.path])
        )
    plan.errors.sort(key=lambda error: (str(error.path), error.line))
    return plan


def _plan_source(plan: Plan, file: PipelineFile, existing: Source | None) -> SourcePlan:
    definition = file.source
    earlier = plan.sources.get(definition.name)
    if earlier is not None:
        if definition.defined and earlier.definition.defined and definition != earlier.definition:
            raise file.error(
                ["source"],
                "SOURCE_CONFLICT",
                f"{earlier.file.path} defines source {definition.name!r} differently",
            )
        if definition.defined and not earlier.definition.defined:
            earlier.definition, earlier.file = definition, file
            _compare_source(earlier)
        return earlier
    planned = SourcePlan(definition, file, existing, "unchanged")
    _compare_source(planned)
    plan.sources[definition.name] = planned
    return planned


def _compare_source(plan: SourcePlan) -> None:
    if plan.existing is None:
        _plan_new_source(plan)
    else:
        _plan_source_update(plan, plan.existing)


def _plan_new_source(plan: SourcePlan) -> None:
    definition = plan.definition
    if definition.kind is None or definition.uri is None:
        raise plan.file.error(
            ["source"],
            "SOURCE_NOT_FOUND",
            f"no source is named {definition.name!r}: give its kind and uri to create it",
        )
    plan.action = "create"
    plan.fields = {
        "name": definition.name,
        "kind": definition.kind,
        "uri": definition.uri,
        "options": definition.options or {},
    }
    plan.changes = [f"{key}: {value}" for key, value in plan.fields.items() if key != "name"]


def _plan_source_update(plan: SourcePlan, existing: Source) -> None:
    definition = plan.definition
    if definition.kind is not None and definition.kind != existing["kind"]:
        raise plan.file.error(
            ["source", "kind"],
            "SOURCE_KIND_FIXED",
            f"source {definition.name!r} is {existing['kind']!r} on the server and the API "
            "cannot change a source's kind: give the new source another name",
        )
    fields: dict[str, Any] = {}
    if definition.uri is not None and definition.uri != existing["uri"]:
        fields["uri"] = definition.uri
    if definition.options is not None and not _same(definition.options, existing["options"]):
        fields["options"] = definition.options
    plan.action = "update" if fields else "unchanged"
    plan.fields = fields
    plan.changes = [
        f"{key}: {_show(value_of(existing, key))} -> {_show(fields[key])}" for key in fields
    ]


def _plan_pipeline(
    file: PipelineFile, existing: Pipeline | None, source: SourcePlan
) -> PipelinePlan:
    old_spec = existing["spec"] if existing else None
    old_source = existing["source"]["name"] if existing and existing["source"] else None
    plan = PipelinePlan(file, existing, "create" if existing is None else "unchanged")
    if old_spec != file.spec:
        plan.spec_diff = spec_diff(old_spec, file.spec)
    if old_source != source.definition.name:
        plan.source_change = (old_source, source.definition.name)
    for api_name, value in file.operations.items():
        old = value_of(existing, api_name) if existing else None
        if _operation_value(old) != _operation_value(value):
            plan.operations[api_name] = (old, value)
    if existing is not None and (plan.new_version or plan.operations):
        plan.action = "update"
    return plan


def _same(local: object, remote: object) -> bool:
    """Equal, where the API's mask stands for any text: it never shows a credential, so a
    literal one in a file cannot be compared (secret references can, and are better)."""
    if remote == REDACTED and isinstance(local, str):
        return True
    if isinstance(local, dict) and isinstance(remote, dict):
        return local.keys() == remote.keys() and all(_same(local[k], remote[k]) for k in local)
    if isinstance(local, list) and isinstance(remote, list):
        return len(local) == len(remote) and all(map(_same, local, remote))
    return local == remote


def _operation_value(value: object) -> object:
    return None if value == "" else value  # "" is how the API is told: no schedule


def spec_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """A unified diff of the two specs as YAML with sorted keys (the server may reorder)."""
    before = _yaml(old).splitlines() if old is not None else []
    after = _yaml(new).splitlines()
    return list(difflib.unified_diff(before, after, "server", "file", lineterm="", n=2))


def _yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True)


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)
