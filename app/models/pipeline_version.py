"""Every spec a pipeline has had: `updatePipeline` adds a version, runs record theirs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import JSONVariant, UTCDateTime, new_id, utcnow


class PipelineVersion(SQLModel, table=True):
    __tablename__ = "pipeline_versions"
    __table_args__ = (UniqueConstraint("pipeline_id", "version", name="uq_pipeline_version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    pipeline_id: str = Field(foreign_key="pipelines.id", max_length=36)
    version: int
    source_id: str = Field(foreign_key="sources.id", max_length=36)
    spec: dict[str, Any] = Field(sa_column=Column(JSONVariant, nullable=False))
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
