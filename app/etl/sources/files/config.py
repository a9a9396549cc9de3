"""The file kinds' configs: where the files are, their options, and the format that reads them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from app.errors import SourceInvalid
from app.etl.sources.config import SourceConfig
from app.etl.sources.files.csv import CsvFormat
from app.etl.sources.files.json_format import JsonArrayFormat, NdjsonFormat
from app.etl.sources.files.location import LocalFiles, S3Files
from app.etl.sources.files.options import CsvOptions, FileOptions, JsonOptions, ParquetOptions
from app.etl.sources.files.parquet_format import ParquetFormat

if TYPE_CHECKING:
    from pathlib import Path

    from app.etl.sources.files.format import FileFormat


class FileSource(SourceConfig):
    """A file kind: its files (local or S3) and how one file of them is read."""

    location: LocalFiles | S3Files = Field(discriminator="scheme")
    options: FileOptions

    @property
    def path(self) -> Path:
        """The one local file this source reads (for single-file readers)."""
        location = self.location
        if not isinstance(location, LocalFiles) or location.pattern:
            raise SourceInvalid(f"{self.uri!r} is not a single local file", path=["uri"])
        return location.base

    def file_format(self) -> FileFormat:
        raise NotImplementedError


class CsvSource(FileSource):
    kind: Literal["csv"] = "csv"
    options: CsvOptions = Field(default_factory=CsvOptions)

    def file_format(self) -> FileFormat:
        return CsvFormat(self.options)


class JsonSource(FileSource):
    """A JSON array of objects per file."""

    kind: Literal["json"] = "json"
    options: JsonOptions = Field(default_factory=JsonOptions)

    def file_format(self) -> FileFormat:
        return JsonArrayFormat(self.options)


class NdjsonSource(FileSource):
    """One JSON object per line."""

    kind: Literal["ndjson"] = "ndjson"
    options: JsonOptions = Field(default_factory=JsonOptions)

    def file_format(self) -> FileFormat:
        return NdjsonFormat(self.options)


class ParquetSource(FileSource):
    kind: Literal["parquet"] = "parquet"
    options: ParquetOptions = Field(default_factory=ParquetOptions)

    def file_format(self) -> FileFormat:
        return ParquetFormat()
