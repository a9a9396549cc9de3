"""Nested JSON objects as columns: structs unnested to `parent__child`, to a bounded depth."""

from __future__ import annotations

import polars as pl

from app.errors import SourceMalformed

SEPARATOR = "__"
_NESTED = (pl.Struct, pl.List, pl.Array)


def flatten_structs(frame: pl.DataFrame, depth: int) -> pl.DataFrame:
    """Unnest struct columns `depth` levels deep; deeper structs and lists stay as they are."""
    for _ in range(depth):
        structs = {
            name: dtype for name, dtype in frame.schema.items() if isinstance(dtype, pl.Struct)
        }
        if not structs:
            break
        renamed = [
            pl.col(name).struct.rename_fields([f"{name}{SEPARATOR}{f.name}" for f in dtype.fields])
            for name, dtype in structs.items()
        ]
        try:
            frame = frame.with_columns(renamed).unnest(list(structs))
        except pl.exceptions.DuplicateError as error:
            raise SourceMalformed(
                f"flattening nested objects gives a column twice ({error}); set flatten_depth lower"
            ) from None
    return frame


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Scalar columns as String (`infer_types: false`); nested ones are left as they are."""
    return frame.with_columns(
        pl.col(name).cast(pl.String)
        for name, dtype in frame.schema.items()
        if not isinstance(dtype, _NESTED) and dtype != pl.String
    )
