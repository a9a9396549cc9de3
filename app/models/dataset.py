"""Datasets: a loaded table with its declared members, versioned by each successful load."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.models.base import JSONVariant, UTCDateTime, new_id, utcnow


class Dataset(SQLModel, table=True):
    """Written by the load hook only; the analytics API reads it on every query.

    `members` and `stats` are measured from the loaded data (types, cardinalities, time
    range), so queries are compiled and cost-checked without touching the warehouse.
    """

    __tablename__ = "datasets"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    # The destination table's name: what dashboards ask for.
    name: str = Field(max_length=63, unique=True)
    table_name: str = Field(max_length=63)
    pipeline_id: str | None = Field(default=None, foreign_key="pipelines.id", max_length=36)
    version: int = Field(default=1, nullable=False)
    definition: dict[str, Any] = Field(sa_column=Column(JSONVariant, nullable=False))
    members: list[dict[str, Any]] = Field(sa_column=Column(JSONVariant, nullable=False))
    stats: dict[str, Any] = Field(sa_column=Column(JSONVariant, nullable=False))
    # Parquet replica (production): the current file, and the one before it, which
    # queries started just before the swap may still be reading.
    replica_uri: str | None = Field(default=None, max_length=2048)
    previous_replica_uri: str | None = Field(default=None, max_length=2048)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    loaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
