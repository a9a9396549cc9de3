"""Users and their roles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import EmailStr
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.models.base import JSONVariant, UTCDateTime, enum_column, new_id, utcnow


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


class UserBase(SQLModel):
    email: str = Field(max_length=320, unique=True)
    role: Role = Field(default=Role.VIEWER, sa_column=enum_column(Role))
    is_active: bool = True


class User(UserBase, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    password_hash: str = Field(max_length=255)
    # Access tokens issued before this instant are refused (role change, disable, logout).
    tokens_valid_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Analytics rows this user may see, e.g. {"country": "DE"} (see app/analytics/scope.py).
    analytics_scope: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONVariant, nullable=True)
    )


class UserCreate(SQLModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    role: Role = Role.VIEWER
