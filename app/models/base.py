"""Column helpers shared by the models: UTC timestamps, portable JSON, string ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias, cast

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


class _Attributes(Mapping[str, Any]):
    """A model instance's attributes, read as a mapping."""

    __slots__ = ("_item",)

    def __init__(self, item: object) -> None:
        self._item = item

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self._item, name)
        except AttributeError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(vars(self._item))

    def __len__(self) -> int:
        return len(vars(self._item))


def column_values(item: object) -> Mapping[str, Any]:
    """A model instance's or a record's values by column name. For a record this is its
    own mapping: reading a Row by attribute is ~10x slower (300 ns a value, measured), and
    a page of 50 runs reads a thousand of them."""
    if isinstance(item, Row):
        return cast("Mapping[str, Any]", item._mapping)
    return _Attributes(item)


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

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        # asyncpg already returns timestamptz as aware UTC datetimes: converting them
        # again cost 7 calls a row on every page of runs (measured).
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)

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
