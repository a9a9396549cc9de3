"""Pipelines: define, version, delete and look them up, validated against their source."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlmodel import col, select

from app.analytics.datasets import parse_dataset
from app.errors import (
    AlreadyExists,
    DataFlowError,
    InvalidInput,
    PipelineNotFound,
    SourceInvalid,
    SourceMalformed,
    SourceNotFound,
    SourceUnreadable,
)
from app.etl.sources import parse_source
from app.etl.sources.errors import SourceUnavailable
from app.etl.sources.reader import ReadContext, open_reader
from app.etl.sources.templates import placeholders
from app.etl.sources.threads import finish_in_thread
from app.etl.spec import parse_spec, validate_against_schema
from app.etl.spec_limits import SpecLimits, check_spec_size
from app.models.base import utcnow
from app.models.pipeline import Pipeline, PipelineCreate
from app.models.pipeline_version import PipelineVersion
from app.models.source import Source, SourceCreate
from app.services import sources as source_service
from app.services.pagination import Page, fetch_records, paginate, record_select
from app.validation import parse_model

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.etl.sources.policy import SourcePolicy
    from app.etl.spec import PipelineSpec
    from app.models.base import Record
    from app.models.user import User


# Checking a spec against an HTTP or SQL source asks it for its schema; don't wait long.
SCHEMA_CHECK_SECONDS = 15


def _live() -> Any:
    return col(Pipeline.deleted_at).is_(None)


async def get(*, session: AsyncSession, pipeline_id: str) -> Pipeline:
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None or pipeline.deleted_at is not None:
        raise PipelineNotFound(f"pipeline {pipeline_id} does not exist", path=["pipelineId"])
    return pipeline


async def get_by_name(*, session: AsyncSession, name: str) -> Pipeline | None:
    statement = select(Pipeline).where(Pipeline.name == name, _live())
    return (await session.exec(statement)).first()


async def get_many(*, session: AsyncSession, pipeline_ids: Sequence[str]) -> list[Record | None]:
    """Batch lookup for DataLoaders: one query, records in the order asked.

    Deleted pipelines are returned too: a run still shows what it ran."""
    statement = record_select(Pipeline).where(col(Pipeline.id).in_(pipeline_ids))
    by_id = {pipeline.id: pipeline for pipeline in await fetch_records(session, statement)}
    return [by_id.get(pipeline_id) for pipeline_id in pipeline_ids]


async def list_page(
    *, session: AsyncSession, first: int | None = None, after: str | None = None
) -> Page[Record]:
    statement = record_select(Pipeline).where(_live())
    return await paginate(session, statement, Pipeline, first=first, after=after)


async def versions(*, session: AsyncSession, pipeline_id: str) -> list[PipelineVersion]:
    statement = (
        select(PipelineVersion)
        .where(PipelineVersion.pipeline_id == pipeline_id)
        .order_by(col(PipelineVersion.version).desc())
    )
    return list((await session.exec(statement)).all())


def parse_bounded(spec: dict[str, Any], limits: SpecLimits | None = None) -> PipelineSpec:
    """A spec from a client: its size capped first (`SpecTooLarge`), then parsed."""
    check_spec_size(spec, limits)
    return parse_spec(spec)


async def check_against_source(
    source: Source,
    spec: dict[str, Any],
    policy: SourcePolicy,
    sample_params: Mapping[str, Any] | None = None,
    *,
    limits: SpecLimits | None = None,
) -> None:
    """Report an unknown column or a type clash now, before any run (reads the header).

    A source whose uri uses run params (`{partition}` in a backfill) is read with
    `sample_params`, a partition the caller names; without one, a spec whose contract
    declares its columns is checked against those alone, and any other is refused with
    a message saying to name a sample partition. Parsing and checking are CPU work that
    grows with the spec: they run in a worker thread, so the event loop keeps serving
    other requests meanwhile."""
    parsed = await finish_in_thread(parse_bounded, spec, limits)
    if isinstance(spec.get("dataset"), dict):
        # Its members are checked against the loaded table after each load.
        parse_dataset(spec["dataset"], None)
    config = parse_source(source.kind, source.uri, source.options, policy)
    needed = placeholders(source.uri)
    if needed and sample_params is None:
        _check_templated_without_sample(parsed, source.uri, needed)
        return
    reader = open_reader(config, ReadContext(params=dict(sample_params or {})))
    try:
        schema = await asyncio.wait_for(reader.schema(), SCHEMA_CHECK_SECONDS)
    except (SourceUnreadable, SourceMalformed, SourceUnavailable, TimeoutError):
        # The file may arrive, or be fixed, before the first run: the spec is not wrong,
        # and the run reports the file's problem with its line.
        return
    finally:
        await reader.aclose()
    await finish_in_thread(validate_against_schema, parsed, schema)


def _check_templated_without_sample(parsed: PipelineSpec, uri: str, needed: list[str]) -> None:
    declared = parsed.contract.declared() if parsed.contract else {}
    if declared:
        validate_against_schema(parsed, pl.Schema(declared))
        return
    example = ", ".join(f'{name}: "…"' for name in dict.fromkeys(needed))
    raise SourceInvalid(
        f"the source uri {uri!r} uses run params ({', '.join(dict.fromkeys(needed))}), so "
        f"the spec cannot be checked against it without them: name a sample partition to "
        f"read, e.g. sampleParams: {{{example}}}, or declare the source's columns in the "
        "contract",
        path=["sampleParams"],
    )


def _record_version(session: AsyncSession, pipeline: Pipeline, actor: User | None) -> None:
    session.add(
        PipelineVersion(
            pipeline_id=pipeline.id,
            version=pipeline.version,
            source_id=pipeline.source_id,
            spec=pipeline.spec,
            created_by=actor.id if actor else None,
        )
    )


async def create(
    *,
    session: AsyncSession,
    data: PipelineCreate,
    actor: User | None,
    policy: SourcePolicy,
    sample_params: Mapping[str, Any] | None = None,
    limits: SpecLimits | None = None,
) -> Pipeline:
    await finish_in_thread(parse_bounded, data.spec, limits)
    source = await source_service.get(session=session, source_id=data.source_id)
    if await get_by_name(session=session, name=data.name) is not None:
        raise AlreadyExists(f"a pipeline named {data.name!r} already exists", path=["name"])
    await check_against_source(source, data.spec, policy, sample_params, limits=limits)
    pipeline = Pipeline.model_validate(data, update={"created_by": actor.id if actor else None})
    session.add(pipeline)
    await session.flush()
    _record_version(session, pipeline, actor)
    await session.flush()
    return pipeline


async def update(
    *,
    session: AsyncSession,
    pipeline_id: str,
    spec: dict[str, Any] | None,
    source_id: str | None,
    actor: User | None,
    policy: SourcePolicy,
    operations: dict[str, Any] | None = None,
    sample_params: Mapping[str, Any] | None = None,
    limits: SpecLimits | None = None,
) -> Pipeline:
    """A new version with a new spec and/or source (runs keep the version they ran);
    `operations` (attempts, timeout, concurrency, schedule) change without a version."""
    pipeline = await get(session=session, pipeline_id=pipeline_id)
    if operations:
        _apply_operations(pipeline, operations)
        session.add(pipeline)
    new_spec = spec if spec is not None else pipeline.spec
    source = await source_service.get(session=session, source_id=source_id or pipeline.source_id)
    await check_against_source(source, new_spec, policy, sample_params, limits=limits)
    if new_spec == pipeline.spec and source.id == pipeline.source_id:
        return pipeline  # nothing changed: no new version
    pipeline.spec = new_spec
    pipeline.source_id = source.id
    pipeline.version += 1
    pipeline.updated_at = utcnow()
    session.add(pipeline)
    _record_version(session, pipeline, actor)
    await session.flush()
    return pipeline


OPERATIONS = ("max_attempts", "timeout_seconds", "concurrency", "schedule", "timezone")


def _apply_operations(pipeline: Pipeline, changes: dict[str, Any]) -> None:
    checked = _checked_operations(pipeline, changes)
    for name in OPERATIONS:
        setattr(pipeline, name, getattr(checked, name))
    pipeline.updated_at = utcnow()


def _checked_operations(pipeline: Pipeline, changes: dict[str, Any]) -> PipelineCreate:
    """Validate the operational settings as a whole (a schedule needs its timezone)."""
    current = {name: getattr(pipeline, name) for name in OPERATIONS}
    merged = {**current, **{k: v for k, v in changes.items() if k in OPERATIONS}}
    if changes.get("schedule") == "":
        merged["schedule"] = None  # an empty schedule removes it
    data = {"name": pipeline.name, "source_id": pipeline.source_id, "spec": pipeline.spec}
    return parse_model(PipelineCreate, {**data, **merged})


class SourceKindFixed(InvalidInput):
    code = "SOURCE_KIND_FIXED"


@dataclass(frozen=True)
class SourceDraft:
    """A source as a pipeline file declares it: by name, with the fields it sets. An
    existing source of that name would be updated with them, else one created."""

    name: str
    kind: str | None = None
    uri: str | None = None
    options: dict[str, Any] | None = None


@dataclass(frozen=True)
class Draft:
    """A pipeline as createPipeline (no `pipeline_id`) or updatePipeline would get it."""

    name: str
    spec: dict[str, Any]
    source_id: str | None = None
    source: SourceDraft | None = None
    pipeline_id: str | None = None
    operations: dict[str, Any] | None = None


async def validate(
    *,
    session: AsyncSession,
    draft: Draft,
    policy: SourcePolicy,
    limits: SpecLimits | None = None,
) -> None:
    """Run the checks creating or updating the pipeline (and its source) would run, and
    write nothing: the first problem raises, with its path as the mutation gives it."""
    source = await _draft_source(session, draft, policy)
    if draft.pipeline_id is not None:
        pipeline = await get(session=session, pipeline_id=draft.pipeline_id)
        if draft.operations:
            _checked_operations(pipeline, draft.operations)
    else:
        fields = {"name": draft.name, "source_id": source.id or "", "spec": draft.spec}
        parse_model(PipelineCreate, {**fields, **(draft.operations or {})})
        await finish_in_thread(parse_bounded, draft.spec, limits)
        if await get_by_name(session=session, name=draft.name) is not None:
            raise AlreadyExists(f"a pipeline named {draft.name!r} already exists", path=["name"])
    await check_against_source(source, draft.spec, policy, limits=limits)


async def _draft_source(session: AsyncSession, draft: Draft, policy: SourcePolicy) -> Source:
    if draft.source is None:
        if draft.source_id is None:
            raise InvalidInput("give sourceId or source", path=["sourceId"])
        return await source_service.get(session=session, source_id=draft.source_id)
    try:
        return await _source_as_declared(session, draft.source, policy)
    except DataFlowError as error:
        error.path = ["source", *error.path]
        raise


async def _source_as_declared(
    session: AsyncSession, declared: SourceDraft, policy: SourcePolicy
) -> Source:
    """The source as createSource or updateSource would leave it, not stored: a file's
    pipeline is checked against the source the file declares, even a new one."""
    given = {"kind": declared.kind, "uri": declared.uri, "options": declared.options}
    existing = await source_service.get_by_name(session=session, name=declared.name)
    if existing is None:
        if declared.kind is None or declared.uri is None:
            raise SourceNotFound(
                f"no source is named {declared.name!r}: give its kind and uri to create it",
                path=["name"],
            )
        fields: dict[str, Any] = {"name": declared.name, **given}
        fields["options"] = declared.options or {}
    else:
        if declared.kind is not None and declared.kind != existing.kind:
            raise SourceKindFixed(
                f"source {declared.name!r} is {existing.kind!r} and a source's kind cannot "
                "change: give the new source another name",
                path=["kind"],
            )
        current = {"name": existing.name, "kind": existing.kind, "uri": existing.uri}
        fields = {"options": existing.options, **current}
        fields.update({key: value for key, value in given.items() if value is not None})
    data = parse_model(SourceCreate, fields)
    parse_source(data.kind, data.uri, data.options, policy)
    if existing is None:
        return Source.model_validate(data, update={"id": ""})
    return Source.model_validate(data, update={"id": existing.id})


async def delete(*, session: AsyncSession, pipeline_id: str) -> Pipeline:
    """Soft delete: its runs and their history stay readable; its name is free again."""
    pipeline = await get(session=session, pipeline_id=pipeline_id)
    pipeline.deleted_at = utcnow()
    # Free the unique name for a new pipeline, keeping the old one recognisable.
    pipeline.name = f"{pipeline.name[:90]}.deleted.{pipeline.id[:8]}"
    session.add(pipeline)
    await session.flush()
    return pipeline


async def count_using_source(*, session: AsyncSession, source_id: str) -> int:
    statement = select(Pipeline.id).where(Pipeline.source_id == source_id, _live())
    return len((await session.exec(statement)).all())
