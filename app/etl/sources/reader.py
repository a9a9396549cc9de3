"""The reader interface every source kind implements, and `open_reader` to get one.

A reader streams a source as Polars frames of at most `batch_rows` rows. Every frame
holds the data columns, then two location columns the engine uses to point a rejected
row back at its origin:

- `SOURCE_COLUMN` (String): the file name relative to its root or bucket, the URL of the
  HTTP page, or "query" for SQL;
- `ROW_COLUMN` (Int64): the line in the file (the header is line 1) for CSV and NDJSON,
  else the 1-based record index in the file, page or result.

A reader that finds a row it can read but must not load as it is (a CSV row with too
few fields, a NUL byte in a value) adds a third column, `REASON_COLUMN` (String): the
reason, null on good rows. The contract rejects such rows with that reason first.

Types. Readers infer column types (CSV and JSON from a sample of the data, Parquet and
SQL from their own metadata). A later value that does not fit its column's inferred
type is a *source* error: `SOURCE_MALFORMED` naming the file, line and column, raised
when that batch is read. A pipeline that wants such rows quarantined instead sets the
source option `infer_types: false`: every column is then read as String and the
contract's casts decide, row by row, what is rejected. Structural problems (a row with
too many fields, an unterminated quote, bytes that are not UTF-8, JSON that does not
parse) are always errors: there is no row to quarantine.

Nested JSON (files and HTTP records) is flattened by Polars: objects become columns
`parent__child`, `flatten_depth` levels deep (default 3); lists stay List columns.
PostgreSQL `numeric` arrives as exact text (String), never rounded: cast it in the
query or declare it in the contract.

Schemas. `schema()` is known before the first batch. Files of one glob are reconciled
into one schema up front (same columns in another order; a missing column is null with
`union_by_name: true`; Int widens to Float) or refused with `SOURCE_SCHEMA_MISMATCH`
naming the file and column. JSON pages and files may bring keys the schema has not
seen: they arrive as extra columns after the known ones, so the contract's
`new_columns` policy decides; nothing is dropped silently.

Incremental reads. `ReadContext.watermark` is a hint: a reader may skip data it knows
is older (SQL adds `WHERE "col" > $n`, HTTP sends `watermark_param`, files skip names
when the watermark column is `SOURCE_COLUMN`), but the engine always filters too.

Blocking work (file reads, decompression, parsing) runs in threads; memory stays
bounded by a few batches whatever the source's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    import polars as pl

    from app.etl.sources.config import SourceConfig

SOURCE_COLUMN = "_dataflow_source"
ROW_COLUMN = "_dataflow_row"
REASON_COLUMN = "_dataflow_source_reason"
# Columns beside the data that never load: where a row came from, and why it is bad.
LOCATION_COLUMNS = (SOURCE_COLUMN, ROW_COLUMN, REASON_COLUMN)


@dataclass(frozen=True)
class Watermark:
    """Only rows whose `column` is greater than `value` are wanted."""

    column: str
    value: Any


@dataclass(frozen=True)
class ReadContext:
    """What a run adds to a source: its params (for `{name}` templates) and watermark."""

    params: Mapping[str, Any] = field(default_factory=dict)
    watermark: Watermark | None = None


class SourceReader(Protocol):
    """One read of one source. Call `aclose()` when done, even after an error."""

    async def schema(self) -> pl.Schema:
        """The data columns and their types (no location columns)."""
        ...

    def batches(self, batch_rows: int) -> AsyncIterator[pl.DataFrame]:
        """Frames of at most `batch_rows` rows: data columns, then SOURCE and ROW."""
        ...

    async def aclose(self) -> None:
        """Release connections, files and temporary downloads."""
        ...


def open_reader(config: SourceConfig, context: ReadContext) -> SourceReader:
    """A reader for `config`; nothing is opened or fetched until it is first used."""
    # Imported here: the readers the registry holds import this module for the columns.
    from app.etl.sources.kinds import SOURCE_KINDS

    return SOURCE_KINDS.get(config.kind).open(config, context)
