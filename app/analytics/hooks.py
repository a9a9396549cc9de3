"""What the runner calls after a load commits: bump the dataset, refresh its replica."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from app.analytics import catalog
from app.analytics.datasets import parse_dataset
from app.analytics.errors import DatasetNotFound
from app.db import session_scope

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.analytics.datasets import DatasetSpec
    from app.analytics.read_paths import Measured
    from app.config import Settings
    from app.models.dataset import Dataset

logger = logging.getLogger(__name__)
RECORD_ATTEMPTS = 3


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
    # The read path brings DuckDB and the S3 client (about 30 MB): a worker imports it at
    # its first load of a dataset, not for every pipeline it runs.
    from app.analytics import service as analytics_service
    from app.analytics.read_paths import read_path
    from app.analytics.replica import discard_replica

    measured = await read_path(settings).measure_load(table, definition)
    row, obsolete = await _record(settings, table, pipeline_id, definition, measured)
    await analytics_service.dataset_loaded(settings=settings, name=table, version=row.version)
    logger.info(
        "dataset %s is at version %s after a load by pipeline %s",
        table,
        row.version,
        pipeline_name,
        extra={"pipeline_id": pipeline_id, "rows": measured.stats.row_count},
    )
    if obsolete:
        await discard_replica(settings, obsolete)


async def _record(
    settings: Settings, table: str, pipeline_id: str, spec: DatasetSpec, measured: Measured
) -> tuple[Dataset, str | None]:
    """Record the load in the catalog: the row, and a replica no query reads any more."""
    for _ in range(RECORD_ATTEMPTS - 1):
        # The first load of a dataset may race another: the row exists then, bump it.
        with contextlib.suppress(IntegrityError):
            return await _record_once(settings, table, pipeline_id, spec, measured)
    return await _record_once(settings, table, pipeline_id, spec, measured)


async def _record_once(
    settings: Settings, table: str, pipeline_id: str, spec: DatasetSpec, measured: Measured
) -> tuple[Dataset, str | None]:
    async with session_scope(settings) as session:
        return await catalog.record_load(
            session=session,
            table=table,
            pipeline_id=pipeline_id,
            spec=spec,
            members=measured.members,
            stats=measured.stats,
            replica_uri=measured.replica_uri,
        )


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
