"""The shapes the client's documents select, as TypedDicts (camelCase, as on the wire)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from collections.abc import Mapping


def value_of(record: Mapping[str, object], key: str) -> Any:
    """A field named at run time (a TypedDict may only be indexed by literal keys)."""
    return record[key]


class UserError(TypedDict):
    code: str
    message: str
    path: list[str]


class Source(TypedDict):
    id: str
    name: str
    kind: str
    uri: str
    options: dict[str, Any]
    createdAt: str


class RunRef(TypedDict):
    id: str
    status: str
    createdAt: str
    finishedAt: str | None


class Pipeline(TypedDict):
    id: str
    name: str
    version: int
    spec: dict[str, Any]
    maxAttempts: int
    timeoutSeconds: int
    concurrency: int
    schedule: str | None
    timezone: str
    createdAt: str
    updatedAt: str
    source: Source | None
    lastRun: RunRef | None


class PipelineVersion(TypedDict):
    version: int
    sourceId: str
    createdAt: str


class RunError(TypedDict):
    code: str
    message: str


class PipelineRef(TypedDict):
    id: str
    name: str


class Run(TypedDict):
    id: str
    status: str
    attempt: int
    stage: str | None
    rowsRead: int
    rowsWritten: int
    rowsRejected: int
    rowsFiltered: int
    params: dict[str, Any]
    pipelineVersion: int
    createdAt: str
    scheduledFor: str | None
    startedAt: str | None
    finishedAt: str | None
    error: RunError | None
    pipeline: PipelineRef | None


class RunEvent(TypedDict):
    id: str
    runId: str
    at: str
    kind: str
    stage: str | None
    payload: dict[str, Any]


class User(TypedDict):
    id: str
    email: str
    role: str
    isActive: bool
    createdAt: str
    analyticsScope: dict[str, Any] | None


class ApiKey(TypedDict):
    id: str
    name: str
    prefix: str
    role: str
    createdAt: str
    lastUsedAt: str | None
    revokedAt: str | None
    analyticsScope: dict[str, Any] | None


class BackfillProgress(TypedDict):
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelling: int
    cancelled: int
    done: bool


class Backfill(TypedDict):
    id: str
    pipelineId: str
    partitions: int
    createdAt: str
    cancelledAt: str | None
    progress: BackfillProgress


class Column(TypedDict):
    name: str
    type: str


class Preview(TypedDict):
    columns: list[Column]
    rows: list[list[Any]]
    rowsSampled: int


class PipelineReport(TypedDict):
    pipelineId: str
    pipelineName: str
    runs: int
    succeeded: int
    failed: int
    cancelled: int
    active: int
    successRate: float | None
    p50DurationSeconds: float | None
    p95DurationSeconds: float | None
    rowsLoaded: int
    rowsRejected: int
