"""Sources: register and look up where pipelines read from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import select

from app.errors import AlreadyExists, SourceNotFound
from app.etl.sources import parse_source
from app.models.source import Source, SourceCreate
from app.services.pagination import Page, paginate

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.models.user import User


async def get(*, session: AsyncSession, source_id: str) -> Source:
    source = await session.get(Source, source_id)
    if source is None:
        raise SourceNotFound(f"source {source_id} does not exist", path=["sourceId"])
    return source


async def get_many(*, session: AsyncSession, source_ids: Sequence[str]) -> list[Source | None]:
    """Batch lookup for DataLoaders: one query, results in the order asked."""
    rows = await session.exec(select(Source).where(Source.id.in_(source_ids)))  # type: ignore[attr-defined]
    by_id = {source.id: source for source in rows.all()}
    return [by_id.get(source_id) for source_id in source_ids]


async def list_page(
    *, session: AsyncSession, first: int | None = None, after: str | None = None
) -> Page[Source]:
    return await paginate(session, select(Source), Source, first=first, after=after)


async def create(
    *,
    session: AsyncSession,
    data: SourceCreate,
    actor: User | None,
    allowed_roots: Sequence[Path],
) -> Source:
    # Validates kind, options and that the path stays inside the allowed roots.
    parse_source(data.kind, data.uri, data.options, allowed_roots)
    existing = await session.exec(select(Source.id).where(Source.name == data.name))
    if existing.first() is not None:
        raise AlreadyExists(f"a source named {data.name!r} already exists", path=["name"])
    source = Source.model_validate(data, update={"created_by": actor.id if actor else None})
    session.add(source)
    await session.flush()
    return source
