"""What every step shares: the base model, SQL expressions, names, and plan-time context."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, ClassVar

import polars as pl
from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from app.etl.contract_types import TYPE_NAMES_RULE, parse_type
from app.etl.names import COLUMN_NAME_RULE, is_column_name

if TYPE_CHECKING:
    from collections.abc import Mapping

EXPRESSION_INVALID = "expression_invalid"


MAX_EXPRESSION_TOKENS = 500
"""Names, numbers, strings and operators in one expression. Polars' planning time grows
with the square of an expression's terms (1,600 terms: 5 s), so a spec's expressions are
capped well above any real one (a 20-branch CASE is about 200)."""
_TOKEN = re.compile(r"""[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d*)?|'(?:[^']|'')*'|"[^"]*"|\S""")


def parse_expression(text: str) -> pl.Expr:
    """Parse one SQL expression with Polars' own parser (never `eval`).

    Raises a pydantic custom error so model validation reports it with its location.
    """
    tokens = sum(1 for _ in _TOKEN.finditer(text))
    if tokens > MAX_EXPRESSION_TOKENS:
        raise PydanticCustomError(
            EXPRESSION_INVALID,
            "the expression has {tokens} terms; at most {limit} are allowed",
            {"tokens": tokens, "limit": MAX_EXPRESSION_TOKENS},
        )
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


def _column_name(value: str) -> str:
    if not is_column_name(value):
        raise PydanticCustomError(
            "column_name",
            "'{name}' is not a valid column name: {rule}",
            {"name": value, "rule": COLUMN_NAME_RULE},
        )
    return value


def _type_name(value: str) -> str:
    if parse_type(value) is None:
        raise PydanticCustomError(
            "type_name",
            "'{type}' is not a known type: {rule}",
            {"type": value, "rule": TYPE_NAMES_RULE},
        )
    return value


def _expression(value: str) -> str:
    parse_expression(value)
    return value


NewColumnName = Annotated[str, AfterValidator(_column_name)]
"""A column a step creates: whitelisted, since it may become an identifier."""
TypeName = Annotated[str, AfterValidator(_type_name)]
SqlExpression = Annotated[str, AfterValidator(_expression)]
"""An SQL expression, parsed by Polars when the spec is (so errors have a path)."""


class StepProblem(Exception):
    """A step does not fit its input: names the column when one is to blame."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass(frozen=True)
class StepContext:
    """What a step may use beyond its input frame: the joined sides, as lazy frames."""

    sides: Mapping[str, pl.LazyFrame] = field(default_factory=dict)


class StepModel(BaseModel):
    # A typo in a spec key must fail loudly, not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]
    blocking: ClassVar[bool] = False
    """Needs the whole dataset (dedupe, aggregate, sort, limit), not one batch at a time."""

    def expressions(self) -> list[tuple[str | None, pl.Expr]]:
        """SQL expressions to check one by one, with the column each one derives."""
        return []

    def columns_used(self) -> list[str]:
        """Input columns the step names outside its expressions."""
        return []

    def apply(self, frame: pl.LazyFrame, context: StepContext) -> pl.LazyFrame:
        raise NotImplementedError
