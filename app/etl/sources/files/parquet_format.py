"""The `parquet` kind: the schema from the footer, rows by record batches (pyarrow)."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Literal

import polars as pl
from pydantic import Field

from app.errors import SourceMalformed
from app.etl.sources.files.config import FileSource
from app.etl.sources.files.options import ParquetOptions
from app.etl.sources.reader import ROW_COLUMN

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.etl.sources.files.format import FileFormat


class ParquetFormat:
    seekable = True  # the footer comes first
    row_label = "record"

    def sample(self, handle: BinaryIO) -> pl.Schema:
        import pyarrow as pa  # here, not above: a kind's library loads when it is read
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(handle)
        except (pa.ArrowException, OSError) as error:
            raise _malformed(error) from None
        return pl.from_arrow(schema.empty_table()).schema  # type: ignore[union-attr]

    def frames(
        self, handle: BinaryIO, file_schema: pl.Schema, target: pl.Schema, batch_rows: int
    ) -> Iterator[pl.DataFrame]:
        import pyarrow as pa  # here, not above: a kind's library loads when it is read
        import pyarrow.parquet as pq

        del file_schema, target  # frames are conformed by the caller
        row = 1
        try:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=batch_rows):
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                rows = pl.int_range(row, row + frame.height, dtype=pl.Int64, eager=True)
                row += frame.height
                yield frame.with_columns(rows.alias(ROW_COLUMN))
        except (pa.ArrowException, OSError) as error:
            raise _malformed(error, row) from None


def _malformed(error: Exception, row: int | None = None) -> SourceMalformed:
    where = f"record {row}: " if row and row > 1 else ""
    return SourceMalformed(f"{where}not a readable Parquet file ({error})")


class ParquetSource(FileSource):
    kind: Literal["parquet"] = "parquet"
    options: ParquetOptions = Field(default_factory=ParquetOptions)

    def file_format(self) -> FileFormat:
        return ParquetFormat()
