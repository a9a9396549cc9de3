"""The data contract of a pipeline: declared columns, required ones, checks, policies."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from app.etl.contract_types import parse_type
from app.etl.step_base import SqlExpression, StepModel, TypeName


class Contract(StepModel):
    """`contract: {columns: {name: Type}, required: [...], checks: [...], ...}`.

    Declared columns are cast to their type as rows arrive; a row whose value does not
    convert, whose required column is missing, or that fails a check (an SQL boolean
    expression; as in SQL, a check that is null passes) is a bad row. Bad rows go to
    `_dataflow_rejects` (`bad_rows: quarantine`) or fail the run (`bad_rows: fail`).
    `new_columns` says what a column the table does not have yet does to the table.
    """

    columns: dict[str, TypeName] = Field(default_factory=dict)
    required: list[str] = Field(default_factory=list)
    checks: list[SqlExpression] = Field(default_factory=list)
    new_columns: Literal["evolve", "freeze", "discard"] = "evolve"
    bad_rows: Literal["quarantine", "fail"] = "quarantine"

    def declared(self) -> dict[str, pl.DataType]:
        return {name: _known(text) for name, text in self.columns.items()}

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
