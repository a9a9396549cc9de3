"""Sources: register, change, delete and look up where pipelines read from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from app.errors import AlreadyExists, InvalidInput, SourceNotFound
from app.etl.sources import parse_source
from app.models.base import utcnow
from app.models.source import Source, SourceCreate
from app.services.pagination import Page, fetch_records, paginate, record_select
from app.validation import parse_model

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.etl.sources.policy import SourcePolicy
    from app.models.base import Record
    from app.models.user import User


class SourceInUse(InvalidInput):
    code = "SOURCE_IN_USE"


def _live() -> Any:
    return col(Source.deleted_at).is_(None)


async def get(*, session: AsyncSession, source_id: str) -> Source:
    source = await session.get(Source, source_id)
    if source is None or source.deleted_at is not None:
        raise SourceNotFound(f"source {source_id} does not exist", path=["sourceId"])
    return source


async def get_by_name(*, session: AsyncSession, name: str) -> Source | None:
    statement = select(Source).where(Source.name == name, _live())
    return (await session.exec(statement)).first()


async def get_many(*, session: AsyncSession, source_ids: Sequence[str]) -> list[Record | None]:
    """Batch lookup for DataLoaders: one query, records in the order asked."""
    statement = record_select(Source).where(col(Source.id).in_(source_ids))
    by_id = {source.id: source for source in await fetch_records(session, statement)}
    return [by_id.get(source_id) for source_id in source_ids]


async def list_page(
    *, session: AsyncSession, first: int | None = None, after: str | None = None
) -> Page[Record]:
    statement = record_select(Source).where(_live())
    return await paginate(session, statement, Source, first=first, after=after)


async def _ensure_name_free(session: AsyncSession, name: str, own_id: str | None = None) -> None:
    statement = select(Source.id).where(Source.name == name, _live())
    existing = (await session.exec(statement)).first()
    if existing is not None and existing != own_id:
        raise AlreadyExists(f"a source named {name!r} already exists", path=["name"])


async def create(
    *,
    session: AsyncSession,
    data: SourceCreate,
    actor: User | None,
    policy: SourcePolicy,
) -> Source:
    # Validates kind, options and that the path stays inside the allowed roots.
    parse_source(data.kind, data.uri, data.options, policy)
    await _ensure_name_free(session, data.name)
    source = Source.model_validate(data, update={"created_by": actor.id if actor else None})
    session.add(source)
    await session.flush()
    return source


async def update(
    *,
    session: AsyncSession,
    source_id: str,
    changes: dict[str, Any],
    policy: SourcePolicy,
) -> Source:
    """Change name, uri or options; the result is validated as a whole."""
    source = await get(session=session, source_id=source_id)
    merged = {
        "name": source.name,
        "kind": source.kind,
        "uri": source.uri,
        "options": source.options,
        **{key: value for key, value in changes.items() if value is not None},
    }
    data = parse_model(SourceCreate, merged)
    parse_source(data.kind, data.uri, data.options, policy)
    await _ensure_name_free(session, data.name, own_id=source.id)
    source.name, source.uri, source.options = data.name, data.uri, data.options
    source.updated_at = utcnow()
    session.add(source)
    await session.flush()
    return source


async def delete(*, session: AsyncSession, source_id: str) -> Source:
    """Soft delete, refused while a pipeline still reads from it."""
    from app.services import pipelines as pipeline_service

    source = await get(session=session, source_id=source_id)
    users = await pipeline_service.count_using_source(session=session, source_id=source_id)
    if users:
        raise SourceInUse(
            f"source {source.name!r} is used by {users} pipeline(s); delete or move them first",
            path=["id"],
        )
    source.deleted_at = utcnow()
    source.name = f"{source.name[:90]}.deleted.{source.id[:8]}"
    session.add(source)
    await session.flush()
    return source
