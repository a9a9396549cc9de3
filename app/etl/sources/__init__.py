"""Sources: their configs (`parse_source`), and readers that stream them (`open_reader`).

Each kind is a `SourceKind` in the registry `SOURCE_KINDS` (see `kinds.py`); the kinds
live in their family's folder: `files/`, `http/`, `sql/`.
"""

from __future__ import annotations

from app.etl.sources.config import SourceConfig
from app.etl.sources.files.config import FileSource
from app.etl.sources.files.csv import CsvSource
from app.etl.sources.files.json_format import JsonSource, NdjsonSource
from app.etl.sources.files.options import CsvOptions, JsonOptions, ParquetOptions
from app.etl.sources.files.parquet_format import ParquetSource
from app.etl.sources.http.config import HttpSource
from app.etl.sources.http.options import HttpOptions
from app.etl.sources.kinds import SOURCE_KINDS
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
from app.etl.sources.registry import SourceKind
from app.etl.sources.secrets import SecretRef, redact
from app.etl.sources.sql.config import SqlSource
from app.etl.sources.sql.options import SqlOptions

__all__ = [
    "LOCATION_COLUMNS",
    "ROW_COLUMN",
    "SOURCE_COLUMN",
    "SOURCE_KINDS",
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
    "SourceKind",
    "SourcePolicy",
    "SourceReader",
    "SqlOptions",
    "SqlSource",
    "Watermark",
    "open_reader",
    "parse_source",
    "redact",
]
