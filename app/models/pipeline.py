"""Pipelines: a versioned, validated spec that reads one source into one table."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import field_validator, model_validator
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.models.base import JSONVariant, UTCDateTime, new_id, utcnow
from app.models.source import check_name
from app.scheduling import check_schedule, zone


class PipelineBase(SQLModel):
    name: str = Field(max_length=128, unique=True)
    source_id: str = Field(foreign_key="sources.id", max_length=36, index=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSONVariant, nullable=False))
    # How runs of this pipeline are operated (not what they do: that is the spec).
    max_attempts: int = Field(default=3, ge=1, le=20)
    timeout_seconds: int = Field(default=6 * 3600, ge=1, le=7 * 24 * 3600)
    concurrency: int = Field(default=1, ge=1, le=100)
    schedule: str | None = Field(default=None, max_length=120)
    timezone: str = Field(default="UTC", max_length=64)

    _name = field_validator("name")(check_name)

    @model_validator(mode="after")
    def _valid_schedule(self) -> Self:
        if self.schedule is not None:
            check_schedule(self.schedule, self.timezone)
        else:
            zone(self.timezone)
        return self


class Pipeline(PipelineBase, table=True):
    __tablename__ = "pipelines"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    version: int = Field(default=1, nullable=False)
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Soft delete: runs keep pointing at what they ran; lists and lookups skip it.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PipelineCreate(PipelineBase):
    """What a client sends to define a pipeline; the spec is validated by the ETL layer."""
