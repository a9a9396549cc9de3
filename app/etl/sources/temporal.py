"""Dates and timestamps in text sources: which columns hold them, and parsing them fast.

Polars' CSV reader parses timestamps about ten times slower than `str.to_datetime` with
a known format, so temporal columns are read as text and converted per batch here.
"""

from __future__ import annotations

import polars as pl

# Tried in order on a batch's first values; a format that fits them all is used for the
# whole batch (the fast path). When none fits, Polars infers one per batch.
_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
)
# %#z takes +01:00, +0100 and Z alike.
_ZONED_FORMATS = tuple(f"{fmt}%#z" for fmt in _DATETIME_FORMATS)
_DATE_FORMATS = ("%Y-%m-%d",)
_PROBE_VALUES = 64


def is_temporal(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Datetime) or dtype == pl.Date


def infer_temporal_types(sample: pl.DataFrame) -> pl.Schema:
    """The sample's schema, with text columns whose every value is a date typed as such."""
    schema = sample.schema
    for name, dtype in schema.items():
        values = sample[name].drop_nulls()
        # Failing to parse is slow (every format is tried), so a head rules columns out.
        if dtype == pl.String and len(values) and _temporal_type(values.head(100)):
            schema[name] = _temporal_type(values) or dtype
    return schema


def _temporal_type(values: pl.Series) -> pl.DataType | None:
    for as_datetime in (False, True):
        try:
            text = values.str
            parsed = (
                text.to_datetime(time_unit="us", strict=False)
                if as_datetime
                else (text.to_date(strict=False))
            )
        except pl.exceptions.PolarsError:  # no date format fits the first value
            continue
        if not parsed.null_count():
            return parsed.dtype
    return None


def parse_temporal(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """Convert the text columns `schema` types as dates or timestamps (strictly)."""
    conversions = [
        _parser(frame[name], dtype).cast(dtype).alias(name)
        for name, dtype in schema.items()
        if is_temporal(dtype) and frame.schema[name] == pl.String
    ]
    return frame.with_columns(conversions) if conversions else frame


def _parser(values: pl.Series, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(values.name).str
    if isinstance(dtype, pl.Datetime):
        formats = _ZONED_FORMATS if dtype.time_zone else _DATETIME_FORMATS
        return column.to_datetime(
            _fitting_format(values, formats),
            time_unit=dtype.time_unit,
            time_zone=dtype.time_zone,
        )
    return column.to_date(_fitting_format(values, _DATE_FORMATS))


def _fitting_format(values: pl.Series, formats: tuple[str, ...]) -> str | None:
    probe = values.drop_nulls().head(_PROBE_VALUES)
    for fmt in formats:
        parsed = probe.str.to_datetime(fmt, strict=False)
        if not parsed.null_count():
            return fmt
    return None


def text_schema(schema: pl.Schema) -> pl.Schema:
    """`schema` with temporal columns read as text, for `parse_temporal` to convert."""
    return pl.Schema(
        {name: pl.String() if is_temporal(dtype) else dtype for name, dtype in schema.items()}
    )
