"""The step models of a pipeline spec: each one row-wise operation on a batch."""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from app.etl.names import COLUMN_NAME_RULE, is_column_name

EXPRESSION_INVALID = "expression_invalid"


def parse_expression(text: str) -> pl.Expr:
    """Parse one SQL expression with Polars' own parser (never `eval`).

    Raises a pydantic custom error so model validation reports it with its location.
    """
    try:
        return pl.sql_expr(text)
    except pl.exceptions.PolarsError as error:
        raise PydanticCustomError(
            EXPRESSION_INVALID,
            "cannot parse '{text}' as an SQL expression: {reason}",
            {"text": text, "reason": first_line(error)},
        ) from None


def first_line(error: BaseException) -> str:
    """Polars errors add a resolved plan after the first line; users need the first."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class StepModel(BaseModel):
    # A typo in a spec key must fail loudly, not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilterStep(StepModel):
    """Keep the rows for which the SQL boolean expression is true."""

    filter: str = Field(min_length=1)

    @field_validator("filter")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_expression(value)
        return value

    def expressions(self) -> list[tuple[str | None, pl.Expr]]:
        return [(None, pl.sql_expr(self.filter))]


class DeriveStep(StepModel):
    """Add or overwrite columns, each computed by an SQL expression over the input row."""

    derive: dict[str, str] = Field(min_length=1)

    @field_validator("derive")
    @classmethod
    def _columns_and_expressions(cls, value: dict[str, str]) -> dict[str, str]:
        for column, expression in value.items():
            if not is_column_name(column):
                raise PydanticCustomError(
                    "column_name",
                    "'{column}' is not a valid column name: {rule}",
                    {"column": column, "rule": COLUMN_NAME_RULE},
                )
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


Step = FilterStep | DeriveStep

STEP_KINDS: dict[str, type[FilterStep] | type[DeriveStep]] = {
    "derive": DeriveStep,
    "filter": FilterStep,
}


def step_kind(step: Step) -> str:
    return "filter" if isinstance(step, FilterStep) else "derive"
