"""Answering analytics queries: look the dataset up, compile, guard, cache, run in DuckDB."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from app.analytics import catalog
from app.analytics.cache import CacheKey, ResultCache
from app.analytics.compiler import compile_query
from app.analytics.cost import guard_groups
from app.analytics.engine import open_engine
from app.analytics.query import check_query
from app.analytics.results import estimate_bytes
from app.analytics.settings import get_analytics_settings
from app.db import session_scope

if TYPE_CHECKING:
    from app.analytics.compiler import ResultColumn
    from app.analytics.engine import QueryEngine
    from app.analytics.members import DatasetInfo
    from app.analytics.query import Query
    from app.analytics.scope import Scope
    from app.analytics.settings import AnalyticsSettings
    from app.config import Settings


MAX_KNOWN_DATASETS = 1024


@dataclass(frozen=True, slots=True)
class AnalyticsResult:
    columns: tuple[ResultColumn, ...]
    rows: list[list[Any]]  # shared with the cache: never mutate
    dataset_version: int
    from_cache: bool
    duration_ms: float

    @property
    def row_count(self) -> int:
        return len(self.rows)


class AnalyticsService:
    """One per process and warehouse: the DuckDB engine, the result cache, the limits."""

    def __init__(self, engine: QueryEngine, limits: AnalyticsSettings) -> None:
        self.engine = engine
        self.limits = limits
        self.cache: ResultCache[AnalyticsResult] = ResultCache(limits.cache_bytes)
        # Datasets as loaded at a version: a row changes only with its version.
        self._datasets: dict[tuple[str, int], DatasetInfo] = {}
        # Semaphores belong to an event loop; the API and in-process workers differ.
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._gates = weakref.WeakKeyDictionary()

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.limits.max_concurrency)
        return gate

    async def dataset(self, settings: Settings, name: str) -> DatasetInfo:
        """The dataset at its current version, read in full only when the version moved."""
        version = await catalog.current_version(settings=settings, name=name)
        found = self._datasets.get((name, version))
        if found is None:
            async with session_scope(settings) as session:
                found = await catalog.get(session=session, name=name)
            if len(self._datasets) >= MAX_KNOWN_DATASETS:
                self._datasets.clear()
            self._datasets[(found.name, found.version)] = found
        return found

    async def answer(
        self, dataset: DatasetInfo, query: Query, scope: Scope, started: float
    ) -> AnalyticsResult:
        compiled = compile_query(
            query, dataset, relation=self.engine.relation(dataset), scope=scope
        )
        key = CacheKey(dataset.name, dataset.version, (compiled.sql, compiled.params), scope)
        cached = self.cache.get(key)
        if cached is not None:
            return replace(cached, from_cache=True, duration_ms=_since(started))
        guard_groups(compiled.groups, list(compiled.factors), self.limits.max_groups)
        async with self._gate():
            rows, _ = await asyncio.to_thread(
                self.engine.run, compiled, self.limits.timeout_seconds
            )
        result = AnalyticsResult(compiled.columns, rows, dataset.version, False, _since(started))
        self.cache.put(key, result, estimate_bytes(rows))
        return result


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


_services: dict[tuple[str, ...], AnalyticsService] = {}
_services_lock = threading.Lock()


async def get_service(settings: Settings) -> AnalyticsService:
    """The process's service for these settings; the first call opens its engine."""
    limits = get_analytics_settings()
    key = (settings.warehouse_target, settings.s3_bucket or "", limits.model_dump_json())
    service = _services.get(key)
    if service is not None:
        return service
    return await asyncio.to_thread(_create_service, key, settings, limits)


def _create_service(
    key: tuple[str, ...], settings: Settings, limits: AnalyticsSettings
) -> AnalyticsService:
    with _services_lock:
        service = _services.get(key)
        if service is None:
            service = _services[key] = AnalyticsService(open_engine(settings, limits), limits)
        return service


async def close_services() -> None:
    """Release every engine (the warehouse file, the in-memory DuckDB); at shutdown."""
    with _services_lock:
        services = list(_services.values())
        _services.clear()
    for service in services:
        await asyncio.to_thread(service.engine.close)


async def run_query(*, settings: Settings, query: Query, scope: Scope) -> AnalyticsResult:
    """Answer `query` for a caller with `scope`; typed errors for everything expected."""
    started = time.perf_counter()
    check_query(query)
    service = await get_service(settings)
    dataset = await service.dataset(settings, query.dataset)
    return await service.answer(dataset, query, scope, started)


async def list_datasets(*, settings: Settings, scope: Scope) -> list[DatasetInfo]:
    """The datasets this caller can query: those having every dimension their scope names."""
    async with session_scope(settings) as session:
        datasets = await catalog.list_all(session=session)
    restricted = {name for name, _ in scope}
    return [
        dataset
        for dataset in datasets
        if all(
            name in dataset.members and dataset.members[name].kind == "dimension"
            for name in restricted
        )
    ]
