"""One schema for many files (or pages), and each frame made to fit it.

Reconciled: the same columns in another order; a missing column (null, with
`union_by_name`); integers of different widths, or integers and floats (widened).
Anything else is SOURCE_SCHEMA_MISMATCH naming the file and the column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from app.errors import SourceMalformed
from app.etl.sources.errors import SourceSchemaMismatch
from app.etl.sources.reader import LOCATION_COLUMNS, ROW_COLUMN
from app.etl.sources.temporal import infer_temporal_types, is_temporal, parse_temporal

if TYPE_CHECKING:
    from collections.abc import Sequence

_SIGNED: list[type[pl.DataType]] = [pl.Int8, pl.Int16, pl.Int32, pl.Int64]
_UNSIGNED: list[type[pl.DataType]] = [pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64]


def merge_types(left: pl.DataType, right: pl.DataType) -> pl.DataType | None:
    """The type both fit in without loss, or None when there is none."""
    if left == right or right == pl.Null:
        return left
    if left == pl.Null:
        return right
    if left.is_integer() and right.is_integer():
        return _wider_integer(left, right)
    if left.is_numeric() and right.is_numeric() and (left.is_float() or right.is_float()):
        return pl.Float64()
    if {type(left), type(right)} == {pl.Date, pl.Datetime}:
        return left if isinstance(left, pl.Datetime) else right
    return None


def _wider_integer(left: pl.DataType, right: pl.DataType) -> pl.DataType:
    if left.is_signed_integer() == right.is_signed_integer():
        order = _SIGNED if left.is_signed_integer() else _UNSIGNED
        return left if order.index(type(left)) >= order.index(type(right)) else right
    return pl.Int64()


def reconcile(schemas: Sequence[tuple[str, pl.Schema]], *, union_by_name: bool) -> pl.Schema:
    """The schema of all `(file name, schema)` pairs, in the first file's column order."""
    first_name, first = schemas[0]
    target = pl.Schema(first)
    for name, schema in schemas[1:]:
        if not union_by_name:
            _same_columns(first_name, first, name, schema)
        for column, dtype in schema.items():
            merged = merge_types(target[column], dtype) if column in target else dtype
            if merged is None:
                raise SourceSchemaMismatch(
                    f"{name}: column `{column}` is {dtype} there but {target[column]} in "
                    f"{first_name}, and the two cannot be reconciled",
                    details={"file": name, "column": column},
                )
            target[column] = merged
    return target


def _same_columns(first_name: str, first: pl.Schema, name: str, schema: pl.Schema) -> None:
    missing = [column for column in first if column not in schema]
    extra = [column for column in schema if column not in first]
    if missing or extra:
        column = (missing or extra)[0]
        where = f"has no column `{column}`" if missing else f"has an extra column `{column}`"
        raise SourceSchemaMismatch(
            f"{name} {where} (compared with {first_name}); set the source option "
            "union_by_name: true to read missing columns as null",
            details={"file": name, "column": column},
        )


def conform(frame: pl.DataFrame, target: pl.Schema, row_label: str = "record") -> pl.DataFrame:
    """`frame` in `target`'s columns and types; its extra columns follow, then its location.

    A value that does not fit its column's type is SOURCE_MALFORMED naming its row (as
    `row_label`: "line" where ROW_COLUMN holds lines, else "record").
    """
    frame = parse_temporal(
        frame, pl.Schema({n: d for n, d in target.items() if n in frame.columns and is_temporal(d)})
    )
    columns: list[pl.Expr | pl.Series] = []
    for name, dtype in target.items():
        if name not in frame.columns:
            columns.append(pl.lit(None, dtype).alias(name))
        elif frame.schema[name] == dtype:
            columns.append(pl.col(name))
        else:
            columns.append(_cast(frame, name, dtype, row_label))
    extra = [pl.col(n) for n in frame.columns if n not in target and n not in LOCATION_COLUMNS]
    location = [pl.col(n) for n in LOCATION_COLUMNS if n in frame.columns]
    return frame.select(*columns, *extra, *location)


def _cast(frame: pl.DataFrame, name: str, dtype: pl.DataType, row_label: str) -> pl.Series:
    values = frame[name]
    cast = values.cast(dtype, strict=False)
    lost = values.is_not_null() & cast.is_null()
    if values.dtype.is_float() and dtype.is_integer():
        lost |= values.is_not_null() & (cast.cast(values.dtype) != values).fill_null(True)
    bad = lost.arg_true()
    if len(bad):
        index = int(bad[0])
        row = frame[ROW_COLUMN][index] if ROW_COLUMN in frame.columns else index + 1
        raise SourceMalformed(
            f"{row_label} {row}: column `{name}` expected {dtype}, got {values[index]!r}",
            details={row_label: row, "column": name},
        )
    return cast


def sample_schema(records: pl.DataFrame, infer_types: bool) -> pl.Schema:
    """The sample's schema: dates recognised in text, a column with no value `Null`."""
    records = records.drop(LOCATION_COLUMNS, strict=False)
    schema = infer_temporal_types(records) if infer_types else records.schema
    for name in records.columns:
        if records[name].null_count() == records.height:
            schema[name] = pl.Null()
    return schema


def final_schema(schema: pl.Schema) -> pl.Schema:
    """`schema` with columns no value typed (`Null`) read as String."""
    return pl.Schema({name: pl.String() if d == pl.Null else d for name, d in schema.items()})
