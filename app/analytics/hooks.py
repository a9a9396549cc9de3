"""What the runner calls after a load commits: bump the dataset, refresh its replica."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from app.analytics import catalog
from app.analytics import service as analytics_service
from app.analytics.compiler import Relation
from app.analytics.datasets import parse_dataset
from app.analytics.engine import embedded_cursor
from app.analytics.errors import DatasetNotFound
from app.analytics.replica import delete_replica, export_and_measure, new_replica_uri
from app.analytics.settings import get_analytics_settings
from app.analytics.stats import measure
from app.db import session_scope
from app.etl.warehouse.duckdb import duckdb_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.analytics.datasets import DatasetSpec
    from app.analytics.members import Member, Stats
    from app.analytics.settings import AnalyticsSettings
    from app.config import Settings

logger = logging.getLogger(__name__)
RECORD_ATTEMPTS = 3


def _measure_embedded(
    settings: Settings, table: str, spec: DatasetSpec
) -> tuple[list[Member], Stats]:
    with embedded_cursor(duckdb_path(settings.warehouse_target)) as cursor:
        return measure(cursor, Relation(table=(table,)), spec)


async def after_successful_load(
    settings: Settings,
    *,
    pipeline_id: str,
    pipeline_name: str,
    spec: Mapping[str, Any],
    table: str,
) -> None:
    """Make the loaded table's new data what analytics queries see.

    A pipeline without a `dataset` section has nothing to do. Raises `SpecInvalid` when
    the loaded table no longer fits the dataset (a column gone, a type changed), and the
    warehouse's typed errors when the replica cannot be written; the load itself stands.
    """
    definition = await _definition(settings, spec, table)
    if definition is None:
        return
    analytics = get_analytics_settings()
    uri: str | None = None
    if settings.warehouse_target.startswith("duckdb:"):
        members, stats = await asyncio.to_thread(_measure_embedded, settings, table, definition)
    else:
        uri = new_replica_uri(settings, table)
        try:
            members, stats = await asyncio.to_thread(
                export_and_measure, settings, analytics, table, definition, uri
            )
        except BaseException:
            await _discard(settings, analytics, uri)
            raise
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            async with session_scope(settings) as session:
                row, obsolete = await catalog.record_load(
                    session=session,
                    table=table,
                    pipeline_id=pipeline_id,
                    spec=definition,
                    members=members,
                    stats=stats,
                    replica_uri=uri,
                )
            break
        except IntegrityError:
            # The first load of a dataset raced another: the row exists now, bump it.
            if attempt == RECORD_ATTEMPTS:
                raise
    await analytics_service.dataset_loaded(settings=settings, name=table, version=row.version)
    logger.info(
        "dataset %s is at version %s after a load by pipeline %s",
        table,
        row.version,
        pipeline_name,
        extra={"pipeline_id": pipeline_id, "rows": stats.row_count},
    )
    if obsolete:
        await _discard(settings, analytics, obsolete)


async def _definition(
    settings: Settings, spec: Mapping[str, Any], table: str
) -> DatasetSpec | None:
    """The pipeline's own dataset section; else the one a dataset on this table already
    has (another pipeline declared it): its data changed all the same."""
    raw = spec.get("dataset")
    if raw is not None:
        return parse_dataset(raw, None)
    async with session_scope(settings) as session:
        try:
            existing = await catalog.get(session=session, name=table)
        except DatasetNotFound:
            return None
    return parse_dataset(existing.definition, None)


async def _discard(settings: Settings, analytics: AnalyticsSettings, uri: str) -> None:
    """Delete a replica file; a failure is logged, never raised over the real outcome."""
    try:
        await delete_replica(settings, analytics, uri)
    except Exception:
        logger.exception("could not delete the analytics replica %s", uri)
