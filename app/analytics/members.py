"""A loaded dataset as queries see it: typed members and the statistics of its data."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from app.analytics.datasets import check_aggregate
from app.errors import SpecInvalid

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.analytics.datasets import Aggregate, DatasetSpec, MemberType
    from app.models.dataset import Dataset

MemberKind = Literal["time", "dimension", "measure"]
ZONED = "TIMESTAMP WITH TIME ZONE"

_NUMBER = re.compile(
    r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|REAL|DOUBLE|DECIMAL\(\d+,\s*\d+\))$"
)


def duckdb_member_type(sql_type: str) -> MemberType | None:
    """A DuckDB column type as a member type; None for types we do not serve."""
    if _NUMBER.match(sql_type):
        return "number"
    if sql_type == "VARCHAR" or sql_type.startswith("ENUM("):
        return "string"
    if sql_type == "BOOLEAN":
        return "boolean"
    if sql_type == "DATE" or sql_type.startswith("TIMESTAMP"):
        return "time"
    return None


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    kind: MemberKind
    type: MemberType
    column: str | None  # the table column; None for count(*)
    sql_type: str  # the column's DuckDB type ("" for count(*))
    aggregate: Aggregate | None = None

    @property
    def zoned(self) -> bool:
        return self.sql_type == ZONED


@dataclass(frozen=True, slots=True)
class Stats:
    """Measured after each load; the cost guard's inputs."""

    row_count: int
    cardinalities: dict[str, int] = field(default_factory=dict)
    # The time column's range as naive UTC (zoned values converted), None if empty.
    time_min: datetime | None = None
    time_max: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("time_min", "time_max"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Stats:
        def moment(key: str) -> datetime | None:
            value = data.get(key)
            return datetime.fromisoformat(value) if value else None

        return cls(
            row_count=int(data.get("row_count", 0)),
            cardinalities={str(k): int(v) for k, v in data.get("cardinalities", {}).items()},
            time_min=moment("time_min"),
            time_max=moment("time_max"),
        )


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    name: str
    table: str
    version: int
    members: dict[str, Member]
    stats: Stats
    replica_uri: str | None
    loaded_at: datetime
    pipeline_id: str | None = None
    definition: dict[str, Any] = field(default_factory=dict)  # the spec's section

    @property
    def time(self) -> Member | None:
        return next((m for m in self.members.values() if m.kind == "time"), None)

    @classmethod
    def from_model(cls, row: Dataset) -> DatasetInfo:
        members = [Member(**item) for item in row.members]
        return cls(
            name=row.name,
            table=row.table_name,
            version=row.version,
            members={member.name: member for member in members},
            stats=Stats.from_json(row.stats),
            replica_uri=row.replica_uri,
            loaded_at=row.loaded_at,
            pipeline_id=row.pipeline_id,
            definition=dict(row.definition),
        )


def build_members(spec: DatasetSpec, column_types: Mapping[str, str]) -> list[Member]:
    """Members typed from the loaded table; a declared column that is gone or of the
    wrong type is a `SpecInvalid` (the spec was checked before, the data may differ)."""

    def typed(column: str, path: list[str]) -> tuple[str, MemberType]:
        sql_type = column_types.get(column)
        kind = duckdb_member_type(sql_type) if sql_type else None
        if sql_type is None or kind is None:
            problem = "is not in the loaded table" if sql_type is None else f"is {sql_type}"
            raise SpecInvalid(f"{'.'.join(path)}: column `{column}` {problem}", path=path)
        return sql_type, kind

    members: list[Member] = []
    if spec.time is not None:
        sql_type, kind = typed(spec.time, ["dataset", "time"])
        if kind != "time":
            raise SpecInvalid(
                f"dataset.time: `{spec.time}` is {sql_type}", path=["dataset", "time"]
            )
        members.append(Member(spec.time, "time", "time", spec.time, sql_type))
    for index, column in enumerate(spec.dimensions):
        sql_type, kind = typed(column, ["dataset", "dimensions", str(index)])
        members.append(Member(column, "dimension", kind, column, sql_type))
    for measure in spec.measures:
        path = ["dataset", "measures", measure.name]
        if measure.column is None:
            members.append(Member(measure.name, "measure", "number", None, "", "count"))
            continue
        sql_type, kind = typed(measure.column, path)
        check_aggregate(measure.aggregate, kind, measure.column, path)
        result: MemberType = kind if measure.aggregate in {"min", "max"} else "number"
        members.append(
            Member(measure.name, "measure", result, measure.column, sql_type, measure.aggregate)
        )
    return members


def members_json(members: list[Member]) -> list[dict[str, Any]]:
    return [asdict(member) for member in members]
