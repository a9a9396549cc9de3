"""Runs of a pipeline and the append-only stream of events each one emits."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import JSONVariant, UTCDateTime, enum_column, new_id, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint sequence.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "idempotency_key", name="uq_runs_pipeline_idempotency"),
        Index("ix_runs_created_at_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    pipeline_id: str = Field(foreign_key="pipelines.id", max_length=36, index=True)
    pipeline_version: int
    status: RunStatus = Field(
        default=RunStatus.QUEUED, sa_column=enum_column(RunStatus, index=True)
    )
    attempt: int = 1
    stage: str | None = Field(default=None, max_length=32)
    rows_read: int = Field(default=0, sa_type=BigInteger)
    rows_written: int = Field(default=0, sa_type=BigInteger)
    rows_rejected: int = Field(default=0, sa_type=BigInteger)
    rows_filtered: int = Field(default=0, sa_type=BigInteger)
    idempotency_key: str | None = Field(default=None, max_length=128)
    params: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONVariant, nullable=False)
    )
    # When a queue message last looked at this queued run: a run nobody looked at for a
    # while lost its message (a broker restart) and the reaper sends it again.
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A retry waits in QUEUED until then (backoff); a claim before it is refused.
    not_before: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The schedule tick or backfill partition this run is for, if any.
    scheduled_for: datetime | None = Field(default=None, sa_type=UTCDateTime)
    backfill_id: str | None = Field(default=None, foreign_key="backfills.id", max_length=36)
    worker_id: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = None
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RunEvent(SQLModel, table=True):
    __tablename__ = "run_events"
    __table_args__ = (Index("ix_run_events_run_id_id", "run_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(EventId, primary_key=True))
    run_id: str = Field(foreign_key="runs.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    kind: str = Field(max_length=32)
    stage: str | None = Field(default=None, max_length=32)
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONVariant, nullable=False)
    )
