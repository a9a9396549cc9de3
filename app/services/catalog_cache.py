"""A per-process cache of pipeline and source records for the API's read paths.

Every page of runs shows each run's pipeline and source. Those are definitions: a few
hundred rows that change when someone edits them, while runs change all the time.
Reading them from the cache saves two statements a page (measured by
scripts/bench_api.py).

Consistency: a commit in this process that adds, changes or deletes a pipeline or source
empties the cache (`app.db.forget_on_commit`, so no service can forget it), and
an entry is trusted for at most `FRESH_SECONDS`, so an edit made through another API
replica shows within that time.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from app.db import forget_on_commit
from app.models.pipeline import Pipeline
from app.models.source import Source
from app.services import pipelines as pipeline_service
from app.services import sources as source_service

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.models.base import Record

    Fetch = Callable[[AsyncSession, Sequence[str]], Awaitable[list[Record | None]]]
    OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]

FRESH_SECONDS = 2.0
MAX_ENTRIES = 10_000


class RecordCache:
    """Records by id, each trusted for `fresh_seconds` after it was read."""

    def __init__(self, fetch: Fetch, fresh_seconds: float = FRESH_SECONDS) -> None:
        self._fetch = fetch
        self._fresh_seconds = fresh_seconds
        self._entries: dict[str, tuple[Record, float]] = {}
        # Bumped by `clear`: a read that started before a change must not store its rows.
        self._generation = 0

    async def get_many(self, reads: OpenSession, ids: Sequence[str]) -> list[Record | None]:
        """The records in the order asked (None for ids that do not exist). A session is
        opened (`reads()`) only when some are missing: opening one costs more than
        answering a page's worth of ids from memory (measured)."""
        now = time.monotonic()
        found: dict[str, Record | None] = {}
        missing: list[str] = []
        for record_id in dict.fromkeys(ids):
            entry = self._entries.get(record_id)
            if entry is not None and now - entry[1] < self._fresh_seconds:
                found[record_id] = entry[0]
            else:
                missing.append(record_id)
        if missing:
            generation = self._generation
            async with reads() as session:
                fetched = await self._fetch(session, missing)
            if generation == self._generation:
                self._store(zip(missing, fetched, strict=True), now)
            found.update(zip(missing, fetched, strict=True))
        return [found.get(record_id) for record_id in ids]

    def _store(self, pairs: Any, now: float) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        for record_id, record in pairs:
            if record is not None:
                self._entries[record_id] = (record, now)

    def clear(self) -> None:
        self._entries.clear()
        self._generation += 1


async def _fetch_pipelines(session: AsyncSession, ids: Sequence[str]) -> list[Record | None]:
    return await pipeline_service.get_many(session=session, pipeline_ids=ids)


async def _fetch_sources(session: AsyncSession, ids: Sequence[str]) -> list[Record | None]:
    return await source_service.get_many(session=session, source_ids=ids)


pipelines = RecordCache(_fetch_pipelines)
sources = RecordCache(_fetch_sources)


def clear() -> None:
    pipelines.clear()
    sources.clear()


forget_on_commit(lambda item: isinstance(item, Pipeline | Source), clear)
