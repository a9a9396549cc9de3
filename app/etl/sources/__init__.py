"""Sources: their configs (`parse_source`), and readers that stream them (`open_reader`)."""

from __future__ import annotations

from app.etl.sources.config import (
    KNOWN_KINDS,
    CsvSource,
    FileSource,
    HttpSource,
    JsonSource,
    NdjsonSource,
    ParquetSource,
    SourceConfig,
    SqlSource,
)
from app.etl.sources.http_options import HttpOptions
from app.etl.sources.options import CsvOptions, JsonOptions, ParquetOptions
from app.etl.sources.parse import parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.sources.reader import (
    LOCATION_COLUMNS,
    ROW_COLUMN,
    SOURCE_COLUMN,
    ReadContext,
    SourceReader,
    Watermark,
    open_reader,
)
from app.etl.sources.secrets import SecretRef, redact
from app.etl.sources.sql_options import SqlOptions

__all__ = [
    "KNOWN_KINDS",
    "LOCATION_COLUMNS",
    "ROW_COLUMN",
    "SOURCE_COLUMN",
    "CsvOptions",
    "CsvSource",
    "FileSource",
    "HttpOptions",
    "HttpSource",
    "JsonOptions",
    "JsonSource",
    "NdjsonSource",
    "ParquetOptions",
    "ParquetSource",
    "ReadContext",
    "SecretRef",
    "SourceConfig",
    "SourcePolicy",
    "SourceReader",
    "SqlOptions",
    "SqlSource",
    "Watermark",
    "open_reader",
    "parse_source",
    "redact",
]
