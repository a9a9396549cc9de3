"""API keys for scripts: stored as a SHA-256 digest, shown to their owner once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.models.base import JSONVariant, UTCDateTime, enum_column, new_id, utcnow
from app.models.user import Role


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    name: str = Field(max_length=128)
    # The public part of the key, unique, so a lookup needs no scan and no secret.
    prefix: str = Field(max_length=16, unique=True)
    digest: str = Field(max_length=64)
    role: Role = Field(default=Role.VIEWER, sa_column=enum_column(Role))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Narrows the owner's analytics scope further (both apply); see app/analytics/scope.py.
    analytics_scope: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONVariant, nullable=True)
    )
