"""`FileFormat`: what the file reader asks of a format (csv, json, parquet, xlsx ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator

    import polars as pl


class FileFormat(Protocol):
    seekable: bool
    row_label: str  # what ROW_COLUMN counts: "line" or "record"

    def sample(self, handle: BinaryIO) -> pl.Schema:
        """The file's own columns (in file order), typed from its start; `Null` if unknown."""
        ...

    def frames(
        self, handle: BinaryIO, file_schema: pl.Schema, target: pl.Schema, batch_rows: int
    ) -> Iterator[pl.DataFrame]:
        """The file's rows with ROW_COLUMN, in any columns `conform` can fit to `target`."""
        ...
