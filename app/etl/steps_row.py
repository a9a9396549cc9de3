"""Steps that work row by row, so each batch is transformed on its own as it streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import polars as pl
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError
from typing_extensions import override

from app.etl.casting import cast_to
from app.etl.contract_types import parse_type, type_name
from app.etl.sources.reader import LOCATION_COLUMNS
from app.etl.step_base import (
    EXPRESSION_INVALID,
    NewColumnName,
    StepModel,
    StepProblem,
    TypeName,
    parse_expression,
)

if TYPE_CHECKING:
    from app.etl.step_base import StepContext

MAX_FLATTEN_DEPTH = 5


class FilterStep(StepModel):
    """Keep the rows for which the SQL boolean expression is true."""

    kind: ClassVar[str] = "filter"
    filter: str = Field(min_length=1)

    @field_validator("filter")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_expression(value)
        return value

    def expressions(self) -> list[tuple[str | None, pl.Expr]]:
        return [(None, pl.sql_expr(self.filter))]

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        return frame.filter(pl.sql_expr(self.filter))


class DeriveStep(StepModel):
    """Add or overwrite columns, each computed by an SQL expression over the input row."""

    kind: ClassVar[str] = "derive"
    derive: dict[NewColumnName, str] = Field(min_length=1)

    @field_validator("derive")
    @classmethod
    def _expressions(cls, value: dict[str, str]) -> dict[str, str]:
        for column, expression in value.items():
            try:
                parse_expression(expression)
            except PydanticCustomError as error:
                # Re-raised with the column so the error's path can name it.
                context = {**(error.context or {}), "column": column}
                raise PydanticCustomError(
                    EXPRESSION_INVALID, error.message_template, context
                ) from None
        return value

    def expressions(self) -> list[tuple[str | None, pl.Expr]]:
        return [(name, pl.sql_expr(text).alias(name)) for name, text in self.derive.items()]

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        # Derived columns all see the step's input row, like one SQL SELECT list.
        return frame.with_columns(expression for _, expression in self.expressions())


class SelectStep(StepModel):
    """Keep these columns, in this order (a row's source location is kept too)."""

    kind: ClassVar[str] = "select"
    select: list[str] = Field(min_length=1)

    def columns_used(self) -> list[str]:
        return self.select

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        schema = frame.collect_schema()
        kept = [name for name in LOCATION_COLUMNS if name in schema]
        return frame.select([*self.select, *kept])


class RenameStep(StepModel):
    kind: ClassVar[str] = "rename"
    rename: dict[str, NewColumnName] = Field(min_length=1)

    def columns_used(self) -> list[str]:
        return list(self.rename)

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        schema = frame.collect_schema()
        for old, new in self.rename.items():
            if new in schema and new not in self.rename:
                raise StepProblem(f"renaming `{old}` to `{new}`: `{new}` already exists", old)
        return frame.rename(self.rename)


class CastStep(StepModel):
    """Convert columns to types; a value that does not convert fails the run."""

    kind: ClassVar[str] = "cast"
    cast: dict[str, TypeName] = Field(min_length=1)

    def columns_used(self) -> list[str]:
        return list(self.cast)

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        schema = frame.collect_schema()
        return frame.with_columns(
            cast_to(pl.col(name), schema[name], _type(text), strict=True).alias(name)
            for name, text in self.cast.items()
        )


class FillNullStep(StepModel):
    """Replace nulls with a value, converted to the column's type."""

    kind: ClassVar[str] = "fill_null"
    fill_null: dict[str, int | float | bool | str] = Field(min_length=1)

    def columns_used(self) -> list[str]:
        return list(self.fill_null)

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        schema = frame.collect_schema()
        return frame.with_columns(
            pl.col(name).fill_null(pl.lit(_converted(name, value, schema[name]), schema[name]))
            for name, value in self.fill_null.items()
        )


class FlattenOptions(StepModel):
    columns: list[str] | None = None
    """The nested columns to flatten (default: every struct and list column)."""
    depth: int = Field(default=1, ge=1, le=MAX_FLATTEN_DEPTH)
    # The readers' own flattening of JSON names columns `parent__child` too.
    separator: str = Field(default="__", pattern=r"^[A-Za-z0-9_]{1,3}$")
    lists: Literal["keep", "explode"] = "keep"
    """`explode` makes a row per list element; `keep` leaves lists as they are."""


class FlattenStep(StepModel):
    """Turn struct fields into columns (`parent__field`), `depth` levels down."""

    kind: ClassVar[str] = "flatten"
    flatten: FlattenOptions

    def columns_used(self) -> list[str]:
        return self.flatten.columns or []

    @override
    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        options = self.flatten
        schema = frame.collect_schema()
        targets = list(options.columns or [name for name in schema if _nested(schema[name])])
        for name in targets:
            if not _nested(schema[name]):
                raise StepProblem(f"column `{name}` is {type_name(schema[name])}, not nested", name)
        for _ in range(options.depth):
            frame, targets = _flatten_once(frame, targets, options)
        return frame


def _flatten_once(
    frame: pl.LazyFrame, targets: list[str], options: FlattenOptions
) -> tuple[pl.LazyFrame, list[str]]:
    """One level: structs become columns, lists explode; returns the next level's columns."""
    schema = frame.collect_schema()
    structs = [name for name in targets if isinstance(schema[name], pl.Struct)]
    lists = [name for name in targets if isinstance(schema[name], pl.List)]
    if options.lists == "explode":
        for name in lists:
            # A row with an empty list stays (with a null), as a left join would keep it.
            frame = frame.explode(name, empty_as_null=True)
    if structs:
        frame = frame.unnest(structs, separator=options.separator)
    after = frame.collect_schema()
    created = [name for name in after if name not in schema]
    exploded = lists if options.lists == "explode" else []
    return frame, [name for name in [*created, *exploded] if _nested(after[name])]


def _nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.Struct, pl.List))


def _type(text: str) -> pl.DataType:
    dtype = parse_type(text)
    if dtype is None:  # the model validated it; kept for the type checker
        raise StepProblem(f"unknown type {text!r}")
    return dtype


def _converted(name: str, value: int | float | bool | str, dtype: pl.DataType) -> Any:
    """The fill value as the column's type: a value that does not fit is a type clash."""
    source = pl.Series([value])
    try:
        converted = source.to_frame("v").select(
            cast_to(pl.col("v"), source.dtype, dtype, strict=True)
        )
    except pl.exceptions.PolarsError:
        converted = None
    if converted is None or converted.to_series().null_count():
        raise StepProblem(
            f"cannot fill column `{name}` ({type_name(dtype)}) with {value!r}", column=name
        )
    return converted.to_series().item()
