"""Steps that see the whole dataset (dedupe, aggregate, sort, limit) and joins."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Literal

import polars as pl
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from typing_extensions import override

from app.etl.names import is_table_name
from app.etl.sources.reader import LOCATION_COLUMNS
from app.etl.step_base import NewColumnName, StepModel, StepProblem

if TYPE_CHECKING:
    from app.etl.step_base import StepContext

# `fn(column)`, `fn("Any Column")` or `count(*)`: parsed here, never evaluated as code.
_MEASURE = re.compile(r'^\s*([a-z_]+)\s*\(\s*(\*|"[^"]+"|[A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$')
AGGREGATIONS = (
    "avg",
    "count",
    "count_distinct",
    "first",
    "last",
    "max",
    "mean",
    "median",
    "min",
    "sum",
)


def parse_measure(text: str) -> tuple[str, str | None]:
    """`sum(revenue)` -> ("sum", "revenue"); `count(*)` -> ("count", None)."""
    match = _MEASURE.fullmatch(text)
    if match is None or match[1] not in AGGREGATIONS:
        raise PydanticCustomError(
            "measure",
            "'{text}' is not an aggregation: use fn(column) with fn one of {known}",
            {"text": text, "known": ", ".join(AGGREGATIONS)},
        )
    function, column = match[1], match[2].strip('"')
    if column == "*" and function != "count":
        raise PydanticCustomError("measure", "only count takes *: '{text}'", {"text": text})
    return function, None if column == "*" else column


def _aggregation(function: str, column: str | None) -> pl.Expr:
    if column is None:
        return pl.len()
    value = pl.col(column)
    return {
        "sum": value.sum(),
        "mean": value.mean(),
        "avg": value.mean(),
        "median": value.median(),
        "min": value.min(),
        "max": value.max(),
        "count": value.count(),
        # SQL's COUNT(DISTINCT x) leaves nulls out.
        "count_distinct": value.drop_nulls().n_unique(),
        "first": value.first(),
        "last": value.last(),
    }[function]


class DedupeOptions(StepModel):
    keys: list[str] = Field(min_length=1)
    keep: Literal["first", "last"] = "last"
    order_by: str | None = None
    """Which row is first or last: by this column (nulls first), else by arrival."""


class DedupeStep(StepModel):
    kind: ClassVar[str] = "dedupe"
    blocking: ClassVar[bool] = True
    dedupe: DedupeOptions

    def columns_used(self) -> list[str]:
        order = [self.dedupe.order_by] if self.dedupe.order_by else []
        return [*self.dedupe.keys, *order]

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        options = self.dedupe
        if options.order_by:
            frame = frame.sort(options.order_by, nulls_last=False, maintain_order=True)
        return frame.unique(options.keys, keep=options.keep, maintain_order=True)


class AggregateOptions(StepModel):
    by: list[str] = Field(default_factory=list)
    measures: dict[NewColumnName, str] = Field(min_length=1)

    @field_validator("measures")
    @classmethod
    def _measures(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            parse_measure(text)
        return value


class AggregateStep(StepModel):
    """Group by columns and compute named aggregations (one row per group)."""

    kind: ClassVar[str] = "aggregate"
    blocking: ClassVar[bool] = True
    aggregate: AggregateOptions

    def columns_used(self) -> list[str]:
        columns = [parse_measure(text)[1] for text in self.aggregate.measures.values()]
        return [*self.aggregate.by, *(name for name in columns if name is not None)]

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        measures = [
            _aggregation(*parse_measure(text)).alias(name)
            for name, text in self.aggregate.measures.items()
        ]
        frame = frame.drop(LOCATION_COLUMNS, strict=False)
        if not self.aggregate.by:
            return frame.select(measures)
        return frame.group_by(self.aggregate.by, maintain_order=True).agg(measures)


class SortOptions(StepModel):
    by: list[str] = Field(min_length=1)
    descending: bool | list[bool] = False
    nulls_last: bool = True


class SortStep(StepModel):
    kind: ClassVar[str] = "sort"
    blocking: ClassVar[bool] = True
    sort: SortOptions

    def columns_used(self) -> list[str]:
        return self.sort.by

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        options = self.sort
        return frame.sort(
            options.by,
            descending=options.descending,
            nulls_last=options.nulls_last,
            maintain_order=True,
        )


# Polars counts rows in 32 bits: a larger head() is an OverflowError, not a bigger limit.
MAX_LIMIT_ROWS = 2**32 - 1


class LimitStep(StepModel):
    kind: ClassVar[str] = "limit"
    blocking: ClassVar[bool] = True
    limit: int = Field(ge=0, le=MAX_LIMIT_ROWS)

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        return frame.head(self.limit)


class JoinOptions(StepModel):
    source: str | None = None
    """A registered source, by name (the run resolves it)."""
    table: str | None = None
    """A warehouse table."""
    on: list[str] | dict[str, str] = Field(min_length=1)
    """Columns with the same name on both sides, or {this side: other side}."""
    how: Literal["left", "inner"] = "left"
    columns: list[str] | None = None
    """The other side's columns to bring (default: all but its keys)."""

    @model_validator(mode="after")
    def _one_side(self) -> JoinOptions:
        if (self.source is None) == (self.table is None):
            raise ValueError("give exactly one of source or table")
        if self.table is not None and not is_table_name(self.table):
            raise ValueError(f"{self.table!r} is not a valid table name")
        return self

    @property
    def side(self) -> str:
        """The key the run's joined sides are kept under."""
        return f"source:{self.source}" if self.source is not None else f"table:{self.table}"

    def pairs(self) -> list[tuple[str, str]]:
        if isinstance(self.on, dict):
            return list(self.on.items())
        return [(name, name) for name in self.on]


class JoinStep(StepModel):
    """Look up columns in a small table or source, matched on keys (left or inner).

    The other side is read once and held in memory, so each batch joins on its own; its
    keys must be unique, so a join never multiplies rows.
    """

    kind: ClassVar[str] = "join"
    join: JoinOptions

    def columns_used(self) -> list[str]:
        return [left for left, _ in self.join.pairs()]

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        options = self.join
        side = context.sides.get(options.side)
        if side is None:
            raise StepProblem(f"the join's {options.side.replace(':', ' ')} was not read")
        left, right = zip(*options.pairs(), strict=True)
        side_schema = side.collect_schema()
        for name in right:
            if name not in side_schema:
                raise StepProblem(f"the other side has no column `{name}`", column=name)
        wanted = options.columns or [name for name in side_schema if name not in right]
        for name in wanted:
            if name not in side_schema:
                raise StepProblem(f"the other side has no column `{name}`", column=name)
        return frame.join(
            side.select([*right, *(name for name in wanted if name not in right)]),
            left_on=list(left),
            right_on=list(right),
            how=options.how,
            validate="m:1",
            maintain_order="left",
            coalesce=True,
        )
