"""The data contract of a pipeline: declared columns, required ones, checks, policies."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from app.etl.contract_types import parse_type
from app.etl.errors import ContractViolation
from app.etl.step_base import SqlExpression, StepModel, TypeName


class Contract(StepModel):
    """`contract: {columns: {name: Type}, required: [...], checks: [...], ...}`.

    Declared columns are cast to their type as rows arrive; a row whose value does not
    convert, whose required column is missing, or that fails a check (an SQL boolean
    expression; as in SQL, a check that is null passes) is a bad row. Bad rows go to
    `_dataflow_rejects` (`bad_rows: quarantine`) or fail the run (`bad_rows: fail`).
    `new_columns` says what a column the table does not have yet does to the table.

    A float that is not finite (inf, -inf, NaN; `1e400` in a text file reads as inf) is
    a bad row unless `allow_non_finite` is true, or lists its column. A run whose rejects
    are more than `max_reject_ratio` of the rows it read (default 1.0: only a run that
    rejected every row) fails with CONTRACT_VIOLATION and loads nothing.
    """

    columns: dict[str, TypeName] = Field(default_factory=dict)
    required: list[str] = Field(default_factory=list)
    checks: list[SqlExpression] = Field(default_factory=list)
    new_columns: Literal["evolve", "freeze", "discard"] = "evolve"
    bad_rows: Literal["quarantine", "fail"] = "quarantine"
    allow_non_finite: bool | list[str] = False
    max_reject_ratio: float = Field(default=1.0, ge=0.0, le=1.0)

    def declared(self) -> dict[str, pl.DataType]:
        return {name: _known(text) for name, text in self.columns.items()}

    def non_finite_allowed(self, column: str) -> bool:
        allowed = self.allow_non_finite
        return allowed if isinstance(allowed, bool) else column in allowed

    def check_expressions(self) -> list[tuple[str, pl.Expr]]:
        return [(text, pl.sql_expr(text)) for text in self.checks]


def _known(text: str) -> pl.DataType:
    dtype = parse_type(text)
    if dtype is None:  # validated by TypeName; kept for the type checker
        raise ValueError(f"unknown type {text!r}")
    return dtype


def contract_schema(contract: Contract | None, source: pl.Schema) -> pl.Schema:
    """The columns the steps see: the source's, with declared types (and declared columns
    the source lacks, which arrive as nulls)."""
    if contract is None:
        return source
    schema = dict(source)
    schema.update(contract.declared())
    return pl.Schema(schema)


class RejectRatioExceeded(ContractViolation):
    """More of a run's rows were rejected than its contract allows; nothing was loaded.

    Its rejects stay in `_dataflow_rejects` (`keep_rejects`), to see what went wrong.
    """

    keep_rejects = True


def check_reject_ratio(contract: Contract | None, rows_read: int, rows_rejected: int) -> None:
    """Fail a run that rejected every row it read, or more than `max_reject_ratio` of them.

    A source with no rows rejected none of them: that passes.
    """
    limit = contract.max_reject_ratio if contract else 1.0
    if not rows_read or not rows_rejected:
        return
    ratio = rows_rejected / rows_read
    if rows_rejected < rows_read and ratio <= limit:
        return
    what = "every row" if rows_rejected == rows_read else f"{ratio:.1%} of the rows"
    raise RejectRatioExceeded(
        f"the run rejected {what} it read ({rows_rejected} of {rows_read}; "
        f"max_reject_ratio is {limit:g}); nothing was loaded, the rejects are kept",
        details={
            "rows_read": rows_read,
            "rows_rejected": rows_rejected,
            "ratio": ratio,
            "max_reject_ratio": limit,
        },
    )
