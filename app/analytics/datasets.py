"""The pipeline spec's `dataset` section: a time column, dimensions, and measures.

Measures are parsed from a small grammar (`sum(revenue)`, `count(*)`, ...), never
evaluated: the function comes from a whitelist and the argument must name a column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import polars as pl

from app.errors import SpecInvalid
from app.etl.names import COLUMN_NAME_RULE, column_name_problem, is_column_name

if TYPE_CHECKING:
    from collections.abc import Sequence

Aggregate = Literal["sum", "avg", "min", "max", "count", "count_distinct"]
AGGREGATES: tuple[Aggregate, ...] = get_args(Aggregate)
MemberType = Literal["time", "string", "number", "boolean"]
MAX_MEMBERS = 64

# `fn(column)`, `fn("quoted column")` or `count(*)`; nothing else is a measure.
_MEASURE = re.compile(
    r"^\s*(?P<fn>[A-Za-z_]+)\s*\(\s*(?:(?P<star>\*)|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r'|"(?P<quoted>(?:[^"]|"")+)")\s*\)\s*$'
)
_NUMERIC_ONLY = frozenset({"sum", "avg"})
_ORDERED = frozenset({"min", "max"})


@dataclass(frozen=True, slots=True)
class Measure:
    name: str
    aggregate: Aggregate
    column: str | None  # None only for count(*)

    @property
    def expression(self) -> str:
        """The measure as the spec writes it (parses back to the same measure)."""
        if self.column is None:
            return f"{self.aggregate}(*)"
        if is_column_name(self.column):
            return f"{self.aggregate}({self.column})"
        return f'{self.aggregate}("{self.column.replace(chr(34), chr(34) * 2)}")'


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    time: str | None
    dimensions: tuple[str, ...]
    measures: tuple[Measure, ...]

    def columns(self) -> list[str]:
        """Every table column the dataset reads, each once."""
        named = [self.time, *self.dimensions, *(m.column for m in self.measures)]
        return list(dict.fromkeys(name for name in named if name is not None))

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "dimensions": list(self.dimensions),
            "measures": {m.name: m.expression for m in self.measures},
        }


def member_type(dtype: pl.DataType) -> MemberType | None:
    """What a column of this Polars type is to a dashboard; None if it cannot be a member."""
    if dtype.is_numeric():
        return "number"
    if dtype.is_temporal() and not isinstance(dtype, pl.Duration | pl.Time):
        return "time"
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return "string"
    if isinstance(dtype, pl.Boolean):
        return "boolean"
    return None


def parse_dataset(raw: Mapping[str, Any], table_schema: pl.Schema | None) -> DatasetSpec:
    """Validate a `dataset` section; with the table's schema, check columns and types too.

    Errors are `SpecInvalid` with a path such as `["dataset", "measures", "revenue"]`.
    """
    if not isinstance(raw, Mapping):
        raise SpecInvalid("dataset: must be an object", path=["dataset"])
    unknown = sorted(set(raw) - {"time", "dimensions", "measures"})
    if unknown:
        raise SpecInvalid(
            f"dataset.{unknown[0]}: is not a known field (time, dimensions, measures)",
            path=["dataset", str(unknown[0])],
        )
    time = _parse_time(raw.get("time"), table_schema)
    dimensions = _parse_dimensions(raw.get("dimensions", []), time, table_schema)
    measures = _parse_measures(raw.get("measures"), {time, *dimensions}, table_schema)
    return DatasetSpec(time=time, dimensions=dimensions, measures=measures)


def _check_column(value: object, path: list[str], schema: pl.Schema | None) -> str:
    where = ".".join(path)
    if not isinstance(value, str):
        raise SpecInvalid(f"{where}: must be a column name", path=path)
    problem = column_name_problem(value)
    if problem:
        raise SpecInvalid(f"{where}: {problem}", path=path)
    if schema is not None and value not in schema:
        raise SpecInvalid(
            f"{where}: column `{value}` not found; available columns: {', '.join(schema.names())}",
            path=path,
        )
    return value


def _parse_time(value: object, schema: pl.Schema | None) -> str | None:
    if value is None:
        return None
    path = ["dataset", "time"]
    column = _check_column(value, path, schema)
    if schema is not None and member_type(schema[column]) != "time":
        raise SpecInvalid(
            f"dataset.time: column `{column}` is {schema[column]}, not a date or timestamp",
            path=path,
        )
    return column


def _parse_dimensions(value: object, time: str | None, schema: pl.Schema | None) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_MEMBERS:
        raise SpecInvalid(
            f"dataset.dimensions: must be a list of at most {MAX_MEMBERS} column names",
            path=["dataset", "dimensions"],
        )
    names: list[str] = []
    for index, item in enumerate(value):
        path = ["dataset", "dimensions", str(index)]
        column = _check_column(item, path, schema)
        if column in names or column == time:
            reason = "is the time column" if column == time else "is listed twice"
            raise SpecInvalid(f"dataset.dimensions[{index}]: `{column}` {reason}", path=path)
        if schema is not None and member_type(schema[column]) is None:
            raise SpecInvalid(
                f"dataset.dimensions[{index}]: column `{column}` is {schema[column]}, "
                "which cannot be grouped by",
                path=path,
            )
        names.append(column)
    return tuple(names)


def _parse_measures(
    value: object, taken: set[str | None], schema: pl.Schema | None
) -> tuple[Measure, ...]:
    if not isinstance(value, Mapping) or not value or len(value) > MAX_MEMBERS:
        raise SpecInvalid(
            f"dataset.measures: must map 1 to {MAX_MEMBERS} names to aggregates, "
            'e.g. {"revenue": "sum(revenue)", "orders": "count(*)"}',
            path=["dataset", "measures"],
        )
    return tuple(_parse_measure(name, text, taken, schema) for name, text in value.items())


def _parse_measure(
    name: object, text: object, taken: set[str | None], schema: pl.Schema | None
) -> Measure:
    path = ["dataset", "measures", str(name)]
    where = f"dataset.measures.{name}"
    if not isinstance(name, str) or not is_column_name(name):
        raise SpecInvalid(f"{where}: a measure name must {COLUMN_NAME_RULE}", path=path)
    if name in taken:
        raise SpecInvalid(f"{where}: `{name}` is already a dimension or the time", path=path)
    match = _MEASURE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise SpecInvalid(
            f"{where}: must be one of {', '.join(f'{fn}(column)' for fn in AGGREGATES)} "
            "or count(*)",
            path=path,
        )
    function = match["fn"].lower()
    if function not in AGGREGATES:
        raise SpecInvalid(
            f"{where}: unknown aggregate `{match['fn']}`; known: {', '.join(AGGREGATES)}",
            path=path,
        )
    aggregate = cast("Aggregate", function)
    if match["star"]:
        if aggregate != "count":
            raise SpecInvalid(f"{where}: only count takes `*`", path=path)
        return Measure(name=name, aggregate=aggregate, column=None)
    column = _check_column(match["bare"] or match["quoted"].replace('""', '"'), path, schema)
    if schema is not None:
        check_aggregate(aggregate, member_type(schema[column]), column, path)
    return Measure(name=name, aggregate=aggregate, column=column)


def check_aggregate(
    aggregate: Aggregate, kind: MemberType | None, column: str, path: Sequence[str]
) -> None:
    """sum/avg need numbers; min/max need something ordered; counts take any member."""
    allowed: set[MemberType | None]
    if aggregate in _NUMERIC_ONLY:
        allowed = {"number"}
    elif aggregate in _ORDERED:
        allowed = {"number", "time", "string"}
    else:
        allowed = {"number", "time", "string", "boolean"}
    if kind not in allowed:
        raise SpecInvalid(
            f"{'.'.join(path)}: {aggregate} cannot apply to `{column}` "
            f"({kind or 'an unsupported type'})",
            path=list(path),
        )
