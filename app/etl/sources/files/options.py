"""Options of the file kinds (csv, json, ndjson, parquet), validated strictly."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Compression = Literal["auto", "none", "gzip", "zstd"]


def _single_byte(value: str, what: str) -> str:
    # Polars takes separators and quotes as one byte; line breaks would split records.
    if len(value.encode()) != 1 or value in "\r\n":
        raise ValueError(f"{what} must be one ASCII character other than a line break")
    return value


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FileOptions(_Options):
    # Files of one glob whose columns differ: a missing column is read as null.
    union_by_name: bool = False


class ParquetOptions(FileOptions):
    pass


class TextOptions(FileOptions):
    # "auto" decides by extension: .gz/.gzip is gzip, .zst/.zstd is zstd.
    compression: Compression = "auto"
    # False reads every column as String, so the contract decides (and quarantines) per row.
    infer_types: bool = True


class CsvOptions(TextOptions):
    delimiter: str = ","
    header: bool = True
    encoding: Literal["utf8", "utf8-lossy"] = "utf8"
    null_values: list[str] = Field(default_factory=list)
    quote_char: str | None = '"'

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        return _single_byte(value, "delimiter")

    @field_validator("quote_char")
    @classmethod
    def _quote(cls, value: str | None) -> str | None:
        return None if value is None else _single_byte(value, "quote_char")

    @model_validator(mode="after")
    def _distinct(self) -> CsvOptions:
        if self.delimiter == self.quote_char:
            raise ValueError("delimiter and quote_char must differ")
        return self

    def polars_options(self) -> dict[str, Any]:
        """The Polars `read_csv` keywords every read of this source shares."""
        return {
            "separator": self.delimiter,
            "quote_char": self.quote_char,
            "null_values": self.null_values or None,
            "encoding": self.encoding,
        }


class JsonOptions(TextOptions):
    # Nested objects become columns `parent__child`, this many levels deep; 0 keeps structs.
    flatten_depth: int = Field(default=3, ge=0, le=10)
    # A JSON array is parsed whole (NDJSON streams): refuse files past this size.
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1, le=4 * 1024 * 1024 * 1024)
