"""The kinds of the http family."""

from __future__ import annotations

from app.etl.sources.http.config import HttpSource, check_http_source
from app.etl.sources.http.options import HttpOptions
from app.etl.sources.http.reader import HttpReader
from app.etl.sources.registry import SourceKind

HTTP_KINDS = (
    SourceKind(
        name="http",
        config=HttpSource,
        options=HttpOptions,
        check=check_http_source,
        reader=HttpReader,
    ),
)
