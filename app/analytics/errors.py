"""The analytics failures clients see, each with a stable code."""

from __future__ import annotations

from app.errors import DataFlowError, Forbidden, InvalidInput, NotFound, Terminal


class QueryInvalid(InvalidInput):
    """The query names an unknown member, or a value does not fit its member."""

    code = "QUERY_INVALID"


class DatasetNotFound(NotFound):
    code = "DATASET_NOT_FOUND"


class QueryTooExpensive(DataFlowError, Terminal):
    """Refused before running (too many groups) or stopped while running (too slow)."""

    code = "QUERY_TOO_EXPENSIVE"
    client_error = True  # the query asks too much; the message says how to narrow it


class OutOfScope(Forbidden):
    """The caller's scope cannot be applied to this dataset, so none of it may be read."""

    code = "FORBIDDEN"
