"""Source errors: which failures a retry can cure (Transient) and which it cannot."""

from __future__ import annotations

from app.errors import DataFlowError, SourceInvalid, SourceMalformed, SourceUnreadable, Transient


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
