"""The kinds of the file family: one line per kind (its config model; the rest is shared)."""

from __future__ import annotations

from typing import TypeVar

from app.etl.sources.files.config import FileSource
from app.etl.sources.files.csv import CsvSource
from app.etl.sources.files.json_format import JsonSource, NdjsonSource
from app.etl.sources.files.location import check_file_location
from app.etl.sources.files.options import CsvOptions, FileOptions, JsonOptions, ParquetOptions
from app.etl.sources.files.parquet_format import ParquetSource
from app.etl.sources.files.reader import FileReader
from app.etl.sources.files.xlsx import XlsxOptions, XlsxSource
from app.etl.sources.registry import SourceKind

_F = TypeVar("_F", bound=FileSource)


def file_kind(name: str, config: type[_F], options: type[FileOptions]) -> SourceKind[_F]:
    """A file kind: every one is confined to the roots (or S3) and read by `FileReader`."""
    return SourceKind(
        name=name,
        config=config,
        options=options,
        check=check_file_location,
        reader=FileReader,
    )


FILE_KINDS = (
    file_kind("csv", CsvSource, CsvOptions),
    file_kind("json", JsonSource, JsonOptions),
    file_kind("ndjson", NdjsonSource, JsonOptions),
    file_kind("parquet", ParquetSource, ParquetOptions),
    file_kind("xlsx", XlsxSource, XlsxOptions),
)
