"""The kinds of the sql family."""

from __future__ import annotations

from app.etl.sources.registry import SourceKind
from app.etl.sources.sql.config import SqlSource, check_sql_source
from app.etl.sources.sql.options import SqlOptions
from app.etl.sources.sql.reader import SqlReader

SQL_KINDS = (
    SourceKind(
        name="sql",
        config=SqlSource,
        options=SqlOptions,
        check=check_sql_source,
        reader=SqlReader,
    ),
)
