"""Splitting a batch into the rows that keep the contract and the rejected ones.

One lazy plan per batch: a reason column is computed for every row (the first broken
rule wins), then the batch is filtered both ways. No Python runs per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from app.errors import TransformFailed
from app.etl.casting import cast_to
from app.etl.contract_types import type_name
from app.etl.sources.files.csv_rows import nul_byte_reasons
from app.etl.sources.reader import LOCATION_COLUMNS, REASON_COLUMN, ROW_COLUMN, SOURCE_COLUMN
from app.etl.step_base import first_line

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from app.etl.contract import Contract

REASON = "_dataflow_reason"
_NUL, _NUL_SYMBOL = "\x00", "\u2400"
REJECT_SCHEMA = pl.Schema(
    {"source": pl.String(), "row_number": pl.Int64(), "reason": pl.String(), "raw": pl.String()}
)


@dataclass(frozen=True)
class RowRules:
    """What a row must satisfy: the reader's verdict (REASON_COLUMN), declared types,
    finite floats, required columns, checks."""

    casts: dict[str, pl.DataType]
    required: tuple[str, ...] = ()
    checks: tuple[tuple[str, pl.Expr], ...] = ()
    required_reason: str = "column `{}` is required but missing"
    finite: Callable[[str], bool] | None = None
    """Whether a float column must hold finite values (None: no column must)."""
    as_read: bool = False
    """Rows as a reader gave them: its REASON_COLUMN decides first, else NUL bytes."""

    @classmethod
    def for_source(cls, contract: Contract | None, cursor: str | None) -> RowRules:
        """Rules on rows as read; an incremental cursor is required (a row without one
        could never be judged older than the watermark)."""
        required = [*(contract.required if contract else []), *([cursor] if cursor else [])]
        return cls(
            casts=contract.declared() if contract else {},
            required=tuple(dict.fromkeys(required)),
            checks=tuple(contract.check_expressions()) if contract else (),
            finite=(lambda name: not contract.non_finite_allowed(name))
            if contract
            else (lambda _name: True),
            as_read=True,
        )

    @classmethod
    def for_output(cls, keys: Sequence[str]) -> RowRules | None:
        """Rules on rows about to load: merge keys may not be null."""
        if not keys:
            return None
        return cls(casts={}, required=tuple(keys), required_reason="merge key `{}` is null")


def split_rows(frame: pl.DataFrame, rules: RowRules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows that keep the rules, cast to the declared types; their rejects)."""
    if _plainly_clean(frame, rules):
        return frame, pl.DataFrame(schema=REJECT_SCHEMA)
    flags, reasons = _judgements(frame.schema, rules)
    casts = _casts(frame.schema, rules)
    if not reasons:  # nothing a row could break: every row keeps the rules
        return _collect(frame.lazy().with_columns(casts)), pl.DataFrame(schema=REJECT_SCHEMA)
    judged = _collect(
        frame.lazy()
        .with_columns(flags)
        .with_columns(casts)
        .with_columns(pl.coalesce(reasons).alias(REASON))
        .drop([flag.meta.output_name() for flag in flags])
    )
    bad = judged.get_column(REASON).is_not_null()
    if not bad.any():
        return judged.drop(REASON), pl.DataFrame(schema=REJECT_SCHEMA)
    return judged.filter(~bad).drop(REASON), rejected_rows(frame.filter(bad), judged.filter(bad))


def _judgements(schema: pl.Schema, rules: RowRules) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """(flag columns computed on the values as read, before the casts; every reason a
    row may be rejected for, the first that applies winning)."""
    # Judged on the values as read, before the casts: what the reader found comes first.
    flags = [*_as_read(schema, rules)] + [
        _cast_failure(name, schema[name], dtype).alias(f"_dataflow_bad_{index}")
        for index, (name, dtype) in enumerate(rules.casts.items())
        if name in schema and schema[name] != dtype
    ]
    missing = [
        pl.when(pl.col(name).is_null()).then(pl.lit(rules.required_reason.replace("{}", name)))
        if name in schema or name in rules.casts
        else pl.lit(rules.required_reason.replace("{}", name))
        for name in rules.required
    ]
    failed = [
        pl.when(check.not_()).then(pl.lit(f"check failed: {text}")) for text, check in rules.checks
    ]
    flagged = [pl.col(flag.meta.output_name()) for flag in flags]
    finite = _non_finite(pl.Schema({**schema, **rules.casts}), rules)
    return flags, flagged + finite + missing + failed


def _casts(schema: pl.Schema, rules: RowRules) -> list[pl.Expr]:
    """Every declared column at its declared type (null where it is missing)."""
    return [
        cast_to(pl.col(name), schema[name], dtype, strict=False).alias(name)
        if name in schema
        else pl.lit(None, dtype).alias(name)
        for name, dtype in rules.casts.items()
    ]


def _collect(plan: pl.LazyFrame) -> pl.DataFrame:
    try:
        return plan.collect()
    except pl.exceptions.PolarsError as error:
        raise TransformFailed(f"contract: {first_line(error)}", path=["contract"]) from error


def _plainly_clean(frame: pl.DataFrame, rules: RowRules) -> bool:
    """Whether a batch under rules with nothing to cast or require has no bad row, by
    eager whole-column tests (the common clean batch skips building a plan)."""
    if rules.casts or rules.required or rules.checks or not rules.as_read:
        return False
    schema = frame.schema
    if REASON_COLUMN not in schema or frame.get_column(REASON_COLUMN).null_count() < frame.height:
        return False
    return all(
        frame.get_column(name).is_finite().all()
        for name, dtype in schema.items()
        if dtype.is_float() and rules.finite is not None and rules.finite(name)
    )


def _as_read(schema: pl.Schema, rules: RowRules) -> list[pl.Expr]:
    """The reader's verdict: a reader that judged its rows sends REASON_COLUMN (NUL
    bytes included); other rows' text values are searched for NUL bytes here."""
    if not rules.as_read:
        return []
    if REASON_COLUMN in schema:
        return [pl.col(REASON_COLUMN).alias("_dataflow_bad_read")]
    nul = nul_byte_reasons(schema)
    return [pl.coalesce(nul).alias("_dataflow_bad_read")] if nul else []


def _non_finite(schema: pl.Schema, rules: RowRules) -> list[pl.Expr]:
    """Reasons for float values that are not finite (null is not a float value)."""
    if rules.finite is None:
        return []
    return [
        pl.when(~pl.col(name).is_finite()).then(
            pl.concat_str(
                pl.lit(f"column `{name}` is not a finite number: "), pl.col(name).cast(pl.String)
            )
        )
        for name, dtype in schema.items()
        if dtype.is_float() and name not in LOCATION_COLUMNS and rules.finite(name)
    ]


def _cast_failure(name: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """The reason a value does not convert, or null when it does (or is null)."""
    value = pl.col(name)
    converted = cast_to(value, source, target, strict=False)
    return pl.when(value.is_not_null() & converted.is_null()).then(
        pl.concat_str(
            pl.lit(f"column `{name}` expected {type_name(target)}, got '"),
            value.cast(pl.String),
            pl.lit("'"),
        )
    )


def rejected_rows(raw: pl.DataFrame, judged: pl.DataFrame) -> pl.DataFrame:
    """Reject rows: where each came from, why, and its values as read (JSON)."""
    data = [name for name in raw.columns if name not in LOCATION_COLUMNS]
    location = [
        (pl.col(SOURCE_COLUMN) if SOURCE_COLUMN in raw.columns else pl.lit(None, pl.String))
        .cast(pl.String)
        .alias("source"),
        (pl.col(ROW_COLUMN) if ROW_COLUMN in raw.columns else pl.lit(None, pl.Int64))
        .cast(pl.Int64)
        .alias("row_number"),
    ]
    # PostgreSQL's jsonb cannot hold a NUL character: show it as the symbol for one.
    values = [
        pl.col(name).str.replace_all(_NUL, _NUL_SYMBOL, literal=True)
        if raw.schema[name] == pl.String
        else pl.col(name)
        for name in data
    ]
    raw_json = pl.struct(values).struct.json_encode() if data else pl.lit("{}")
    return raw.select(*location, judged.get_column(REASON).alias("reason"), raw_json.alias("raw"))
