"""Pipelines: a versioned, validated spec that reads one source into one table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import field_validator
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.models.base import JSONVariant, UTCDateTime, new_id, utcnow
from app.models.source import check_name


class PipelineBase(SQLModel):
    name: str = Field(max_length=128, unique=True)
    source_id: str = Field(foreign_key="sources.id", max_length=36, index=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSONVariant, nullable=False))

    _name = field_validator("name")(check_name)


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
