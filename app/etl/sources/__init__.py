"""Source configuration: which kinds exist, their options, and where files may be read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.errors import SourceInvalid
from app.etl.sources.paths import confined_path
from app.etl.sources.reader import (
    ROW_COLUMN,
    SOURCE_COLUMN,
    ReadContext,
    SourceReader,
    Watermark,
    open_reader,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.etl.sources.policy import SourcePolicy

__all__ = [
    "ROW_COLUMN",
    "SOURCE_COLUMN",
    "CsvOptions",
    "ReadContext",
    "SourceConfig",
    "SourceReader",
    "Watermark",
    "open_reader",
    "parse_source",
]

KNOWN_KINDS = ("csv",)


def _single_byte(value: str, what: str) -> str:
    # Polars takes separators and quotes as one byte; line breaks would split records.
    if len(value.encode()) != 1 or value in "\r\n":
        raise ValueError(f"{what} must be one ASCII character other than a line break")
    return value


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

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


class SourceConfig(BaseModel):
    """A validated source: its kind, the real path to read and the reader's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["csv"]
    path: Path
    options: CsvOptions = Field(default_factory=CsvOptions)


def parse_source(
    kind: str, uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> SourceConfig:
    """Validate a source; a path must resolve inside one of the policy's roots."""
    if kind not in KNOWN_KINDS:
        raise SourceInvalid(
            f"unknown source kind {kind!r}; known kinds: {', '.join(KNOWN_KINDS)}",
            path=["kind"],
        )
    path = confined_path(uri, policy.allowed_roots)
    return SourceConfig(kind="csv", path=path, options=_csv_options(options))


def _csv_options(options: Mapping[str, Any]) -> CsvOptions:
    try:
        return CsvOptions.model_validate(dict(options))
    except ValidationError as error:
        first = error.errors()[0]
        path = ["options", *(str(part) for part in first["loc"])]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            known = ", ".join(CsvOptions.model_fields)
            message = f"unknown option; csv options are: {known}"
        where = ".".join(path)
        raise SourceInvalid(f"{where}: {message}", path=path) from None
