"""Column helpers shared by the models: UTC timestamps, portable JSON, string ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import JSON, Column, DateTime, Row
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from enum import StrEnum

JSONVariant = JSON().with_variant(JSONB(), "postgresql")

# A read-only row of a model's table: the model's columns as attributes, no ORM state.
# Pages the API only reads load records: building ORM instances for a page of 50 runs
# with their pipelines and sources cost more than the queries (measured; see
# scripts/bench_api.py). Records cannot be changed or added to a session.
Record: TypeAlias = Row[Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(enum_type: type[StrEnum], **kwargs: Any) -> Column[Any]:
    """A varchar column that loads back as the enum (not a bare str), on every backend."""
    return Column(
        SAEnum(
            enum_type,
            native_enum=False,
            length=16,
            values_callable=lambda members: [member.value for member in members],
        ),
        nullable=False,
        **kwargs,
    )
