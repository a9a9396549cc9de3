"""The datasets table: look datasets up for queries, and record each successful load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import col, select

from app.analytics.errors import DatasetNotFound
from app.analytics.members import DatasetInfo, members_json
from app.db import get_engine
from app.models.base import utcnow
from app.models.dataset import Dataset

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.analytics.datasets import DatasetSpec
    from app.analytics.members import Member, Stats
    from app.config import Settings


async def get(*, session: AsyncSession, name: str) -> DatasetInfo:
    row = (await session.exec(select(Dataset).where(Dataset.name == name))).first()
    if row is None:
        raise DatasetNotFound(
            f"there is no dataset {name!r}; the datasets query lists them", path=["dataset"]
        )
    return DatasetInfo.from_model(row)


async def current_version(*, settings: Settings, name: str) -> int:
    """Just the version: one indexed row, read without an ORM session (every query
    asks, so this is the cheapest round trip the metadata database allows)."""
    statement = select(Dataset.version).where(col(Dataset.name) == name)
    async with get_engine(settings).connect() as connection:
        version = (await connection.execute(statement)).scalar()
    if version is None:
        raise DatasetNotFound(
            f"there is no dataset {name!r}; the datasets query lists them", path=["dataset"]
        )
    return int(version)


async def list_all(*, session: AsyncSession) -> list[DatasetInfo]:
    rows = (await session.exec(select(Dataset).order_by(col(Dataset.name)))).all()
    return [DatasetInfo.from_model(row) for row in rows]


async def record_load(
    *,
    session: AsyncSession,
    table: str,
    pipeline_id: str | None,
    spec: DatasetSpec,
    members: list[Member],
    stats: Stats,
    replica_uri: str | None,
) -> tuple[Dataset, str | None]:
    """Create the dataset, or bump its version with what this load measured.

    Returns the row and the replica file no query can be reading any more (the one
    before the previous), which the caller may delete once this is committed.
    """
    values = _measured_values(table, pipeline_id, spec, members, stats)
    row = await _current(session, table)
    if row is None:
        # Two first loads at once: one insert fails on the unique name (IntegrityError)
        # and the caller retries, finding the row.
        session.add(Dataset(name=table, version=1, replica_uri=replica_uri, **values))
        await session.flush()
        return await _reload(session, table), None
    obsolete = row.previous_replica_uri
    await _bump(session, table, replica_uri, values)
    return await _reload(session, table), obsolete


def _measured_values(
    table: str, pipeline_id: str | None, spec: DatasetSpec, members: list[Member], stats: Stats
) -> dict[str, Any]:
    """The columns every load rewrites."""
    return {
        "table_name": table,
        "pipeline_id": pipeline_id,
        "definition": spec.to_json(),
        "members": members_json(members),
        "stats": stats.to_json(),
        "loaded_at": utcnow(),
    }


async def _bump(
    session: AsyncSession, name: str, replica_uri: str | None, values: dict[str, Any]
) -> None:
    """One UPDATE with version = version + 1: two loads finishing at once both count."""
    await session.exec(
        update(Dataset)
        .where(col(Dataset.name) == name)
        .values(
            version=Dataset.version + 1,
            previous_replica_uri=Dataset.replica_uri,
            replica_uri=replica_uri,
            **values,
        )
    )


async def _current(session: AsyncSession, name: str) -> Dataset | None:
    return (await session.exec(select(Dataset).where(Dataset.name == name))).first()


async def _reload(session: AsyncSession, name: str) -> Dataset:
    statement = (
        select(Dataset).where(Dataset.name == name).execution_options(populate_existing=True)
    )
    row = (await session.exec(statement)).one()
    return row
