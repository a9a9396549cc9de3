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
from app.analytics.freshness import (
    LISTEN_WAIT_SECONDS,
    KnownVersions,
    VersionListener,
    announce_load,
)
from app.analytics.query import check_query, fingerprint
from app.analytics.read_paths import read_path
from app.analytics.results import estimate_bytes
from app.db import session_scope
from app.errors import WarehouseUnavailable

if TYPE_CHECKING:
    from app.analytics.compiler import ResultColumn
    from app.analytics.engine import QueryEngine
    from app.analytics.members import DatasetInfo
    from app.analytics.query import Query
    from app.analytics.scope import Scope
    from app.config import Settings


MAX_KNOWN_DATASETS = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """The analytics settings a service runs with."""

    max_groups: int
    timeout_seconds: float
    cache_bytes: int
    version_trust_seconds: float
    max_concurrency: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_groups=settings.analytics_max_groups,
            timeout_seconds=settings.analytics_timeout_seconds,
            cache_bytes=settings.analytics_cache_bytes,
            version_trust_seconds=settings.analytics_version_trust_seconds,
            max_concurrency=settings.analytics_max_concurrency,
        )


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
    """One per process and warehouse: the DuckDB engine, the result cache, the limits,
    and the dataset versions it may trust without asking (see `freshness`)."""

    def __init__(self, engine: QueryEngine, limits: Limits) -> None:
        self.engine = engine
        self.limits = limits
        self.cache: ResultCache[AnalyticsResult] = ResultCache(limits.cache_bytes)
        self.versions = KnownVersions(limits.version_trust_seconds)
        self.listener = VersionListener(self.versions)
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

    async def run(
        self, settings: Settings, query: Query, scope: Scope, started: float
    ) -> AnalyticsResult:
        """A cached answer at a trusted version costs no database round trip and no
        compiling: the key is the query as asked (+ version + scope)."""
        self.listener.ensure(settings)
        query_key, scope_key = fingerprint(query), fingerprint(scope)
        trusted = self.versions.get(query.dataset)
        if trusted is not None:
            key = CacheKey(query.dataset, trusted, query_key, scope_key)
            cached = self.cache.get(key)
            if cached is not None:
                return replace(cached, from_cache=True, duration_ms=_since(started))
            known = self._datasets.get((query.dataset, trusted))
            if known is not None:
                try:
                    return await self.answer(known, query, key, scope, started)
                except WarehouseUnavailable:
                    # A replica two loads old is deleted: the version was stale after
                    # all (a lost announcement); ask the database and try once more.
                    self.versions.forget(query.dataset)
        dataset = await self.dataset(settings, query.dataset)
        key = CacheKey(dataset.name, dataset.version, query_key, scope_key)
        cached = self.cache.get(key)
        if cached is not None:
            return replace(cached, from_cache=True, duration_ms=_since(started))
        return await self.answer(dataset, query, key, scope, started)

    async def dataset(self, settings: Settings, name: str) -> DatasetInfo:
        """The dataset at its current version, read in full only when the version moved."""
        ticket = self.versions.ticket()
        version = await catalog.current_version(settings=settings, name=name)
        found = self._datasets.get((name, version))
        if found is None:
            async with session_scope(settings) as session:
                found = await catalog.get(session=session, name=name)
            if len(self._datasets) >= MAX_KNOWN_DATASETS:
                self._datasets.clear()
            self._datasets[(found.name, found.version)] = found
        # The full row may be newer than the version read first; both postdate the ticket.
        self.versions.confirm(name, found.version, ticket)
        return found

    async def answer(
        self, dataset: DatasetInfo, query: Query, key: CacheKey, scope: Scope, started: float
    ) -> AnalyticsResult:
        """Compile, guard and run `query` on `dataset`; the answer is cached under `key`."""
        compiled = compile_query(
            query, dataset, relation=self.engine.relation(dataset), scope=scope
        )
        guard_groups(compiled.groups, list(compiled.factors), self.limits.max_groups)
        async with self._gate():
            rows, _ = await asyncio.to_thread(
                self.engine.run, compiled, self.limits.timeout_seconds
            )
        result = AnalyticsResult(compiled.columns, rows, dataset.version, False, _since(started))
        self.cache.put(key, result, estimate_bytes(rows))
        return result

    async def close(self) -> None:
        await self.listener.close()
        await asyncio.to_thread(self.engine.close)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


_services: dict[tuple[object, ...], AnalyticsService] = {}
_services_lock = threading.Lock()


async def get_service(settings: Settings) -> AnalyticsService:
    """The process's service for these settings; the first call opens its engine."""
    key = _service_key(settings)
    service = _services.get(key)
    if service is not None:
        return service
    service = await asyncio.to_thread(_create_service, key, settings)
    await service.listener.start(settings, wait=LISTEN_WAIT_SECONDS)
    return service


def _service_key(settings: Settings) -> tuple[object, ...]:
    """What makes two settings need two services (two engines, caches, listeners)."""
    return (
        settings.warehouse_target,
        # The replica's bucket, and what the engine reads it with.
        settings.s3_bucket,
        settings.s3_endpoint_url,
        settings.aws_access_key_id,
        settings.aws_secret_access_key,
        settings.aws_session_token,
        settings.aws_region,
        # The versions it trusts are those of one metadata database, heard on one bus.
        settings.metadata_url,
        settings.redis_url,
        Limits.of(settings),
    )


def _create_service(key: tuple[object, ...], settings: Settings) -> AnalyticsService:
    with _services_lock:
        service = _services.get(key)
        if service is None:
            engine = read_path(settings).open_engine()
            service = _services[key] = AnalyticsService(engine, Limits.of(settings))
        return service


async def close_services() -> None:
    """Release every engine (the warehouse file, the in-memory DuckDB); at shutdown."""
    with _services_lock:
        services = list(_services.values())
        _services.clear()
    for service in services:
        await service.close()


async def run_query(*, settings: Settings, query: Query, scope: Scope) -> AnalyticsResult:
    """Answer `query` for a caller with `scope`; typed errors for everything expected."""
    started = time.perf_counter()
    check_query(query)
    service = await get_service(settings)
    return await service.run(settings, query, scope, started)


async def dataset_loaded(*, settings: Settings, name: str, version: int) -> None:
    """A load committed `version` of `name`: every process's next query sees it."""
    with _services_lock:
        local = [service.versions for service in _services.values()]
    await announce_load(settings, name, version, local)


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
