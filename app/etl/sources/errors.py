"""Source errors: which failures a retry can cure (Transient) and which it cannot."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from app.errors import DataFlowError, SourceInvalid, SourceMalformed, SourceUnreadable, Transient

if TYPE_CHECKING:
    from collections.abc import Iterator


class SourceUnavailable(DataFlowError, Transient):
    """The source did not answer usefully (5xx, 429, timeout, refused) within its retries."""

    code = "SOURCE_UNAVAILABLE"


class SourceRequestFailed(SourceUnreadable):
    """The source answered with a refusal a retry cannot change (a 4xx other than 429)."""

    code = "SOURCE_REQUEST_FAILED"


class SourceNoFiles(SourceUnreadable):
    """A file source's uri (or glob) matched no file."""

    code = "SOURCE_NO_FILES"


class SourceSchemaMismatch(SourceMalformed):
    """Files (or pages) of one source disagree on a column in a way that cannot be reconciled."""

    code = "SOURCE_SCHEMA_MISMATCH"


class SourceAddressRefused(SourceInvalid):
    """A network source resolves to an address the policy forbids (loopback, private, ...)."""

    code = "SOURCE_ADDRESS_REFUSED"


class SourceSecretMissing(SourceInvalid):
    """A `{"secret": "ENV"}` reference names an environment variable that is not set."""

    code = "SOURCE_SECRET_MISSING"


@contextlib.contextmanager
def located(where: str) -> Iterator[None]:
    """Errors about the data raised inside name `where` (a file, a page) first."""
    try:
        yield
    except (SourceMalformed, SourceUnreadable) as error:
        if error.details.get("file") == where:
            raise
        raise type(error)(
            f"{where}, {error.message}", path=error.path, details={**error.details, "file": where}
        ) from None
