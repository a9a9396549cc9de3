"""A backfill: one run per partition of a time range, followed and cancelled as a whole."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime, enum_column, new_id, utcnow


class BackfillStep(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Backfill(SQLModel, table=True):
    __tablename__ = "backfills"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    pipeline_id: str = Field(foreign_key="pipelines.id", max_length=36, index=True)
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)
    step: BackfillStep = Field(sa_column=enum_column(BackfillStep))
    partitions: int
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
