"""Sources: where a pipeline reads from (kind, location, reader options)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import field_validator
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.models.base import JSONVariant, UTCDateTime, new_id, utcnow

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_name(value: str) -> str:
    """Names are handles in URLs, CLIs and files: letters, digits, `_ . -`."""
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            "must start with a letter or digit and hold only letters, digits, '_', '.', '-'"
            " (at most 128)"
        )
    return value


class SourceBase(SQLModel):
    name: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=32)
    uri: str = Field(max_length=2048)
    options: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONVariant, nullable=False)
    )

    _name = field_validator("name")(check_name)


class Source(SourceBase, table=True):
    __tablename__ = "sources"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Soft delete: runs keep pointing at what they ran; lists and lookups skip it.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SourceCreate(SourceBase):
    """What a client sends to register a source; validated again by the ETL layer."""
