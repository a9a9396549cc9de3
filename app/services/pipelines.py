"""Pipelines: define them, validated against their spec and their source, and look them up."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlmodel import select

from app.errors import AlreadyExists, PipelineNotFound, SourceMalformed, SourceUnreadable
from app.etl.sources import parse_source
from app.etl.sources.csv import read_csv_schema
from app.etl.spec import parse_spec, validate_against_schema
from app.models.pipeline import Pipeline, PipelineCreate
from app.services import sources as source_service
from app.services.pagination import Page, paginate

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.models.source import Source
    from app.models.user import User


async def get(*, session: AsyncSession, pipeline_id: str) -> Pipeline:
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise PipelineNotFound(f"pipeline {pipeline_id} does not exist", path=["pipelineId"])
    return pipeline


async def get_by_name(*, session: AsyncSession, name: str) -> Pipeline | None:
    return (await session.exec(select(Pipeline).where(Pipeline.name == name))).first()


async def get_many(*, session: AsyncSession, pipeline_ids: Sequence[str]) -> list[Pipeline | None]:
    """Batch lookup for DataLoaders: one query, results in the order asked."""
    statement = select(Pipeline).where(Pipeline.id.in_(pipeline_ids))  # type: ignore[attr-defined]
    by_id = {pipeline.id: pipeline for pipeline in (await session.exec(statement)).all()}
    return [by_id.get(pipeline_id) for pipeline_id in pipeline_ids]


async def list_page(
    *, session: AsyncSession, first: int | None = None, after: str | None = None
) -> Page[Pipeline]:
    return await paginate(session, select(Pipeline), Pipeline, first=first, after=after)


async def _check_against_source(
    source: Source, data: PipelineCreate, allowed_roots: Sequence[Path]
) -> None:
    """Report an unknown column or a type clash now, before any run (reads the header)."""
    spec = parse_spec(data.spec)
    config = parse_source(source.kind, source.uri, source.options, allowed_roots)
    try:
        schema = await asyncio.to_thread(read_csv_schema, config)
    except (SourceUnreadable, SourceMalformed):
        # The file may arrive, or be fixed, before the first run: the spec is not wrong,
        # and the run reports the file's problem with its line.
        return
    validate_against_schema(spec, schema)


async def create(
    *,
    session: AsyncSession,
    data: PipelineCreate,
    actor: User | None,
    allowed_roots: Sequence[Path],
) -> Pipeline:
    parse_spec(data.spec)
    source = await source_service.get(session=session, source_id=data.source_id)
    if await get_by_name(session=session, name=data.name) is not None:
        raise AlreadyExists(f"a pipeline named {data.name!r} already exists", path=["name"])
    await _check_against_source(source, data, allowed_roots)
    pipeline = Pipeline.model_validate(data, update={"created_by": actor.id if actor else None})
    session.add(pipeline)
    await session.flush()
    return pipeline
