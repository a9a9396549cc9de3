"""The error hierarchy: every expected failure has a stable code and says what to do."""

from __future__ import annotations

from typing import Any, ClassVar, Self


class DataFlowError(Exception):
    """Root of every expected DataFlow failure.

    `code` is stable and machine-readable (clients switch on it); `message` is for humans
    and names what was wrong and where; `path` points into the input that caused it.
    """

    code: str = "DATAFLOW_ERROR"
    # The caller's mistake (bad input, a missing object, no permission): logged at info
    # without a traceback. Otherwise the server failed, and the log says how.
    client_error: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        path: list[str] | None = None,
        details: dict[str, Any] | None = None,
        client_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path or []
        self.details = details or {}
        # What a client is told when `message` holds what only the server should see (a
        # file path, SQL, a driver's words): the log keeps `message`.
        self.client_message = client_message or message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Transient:
    """Mixin: retrying may help (a connection dropped, a timeout)."""


class Terminal:
    """Mixin: retrying cannot help (a bad spec, bad data, a missing object)."""


class ConfigError(DataFlowError, Terminal):
    code = "CONFIG_INVALID"


class NotFound(DataFlowError, Terminal):
    code = "NOT_FOUND"
    client_error = True


class SourceNotFound(NotFound):
    code = "SOURCE_NOT_FOUND"


class PipelineNotFound(NotFound):
    code = "PIPELINE_NOT_FOUND"


class RunNotFound(NotFound):
    code = "RUN_NOT_FOUND"


class AlreadyExists(DataFlowError, Terminal):
    code = "ALREADY_EXISTS"
    client_error = True


class InvalidInput(DataFlowError, Terminal):
    code = "INVALID_INPUT"
    client_error = True


class SpecInvalid(InvalidInput):
    code = "SPEC_INVALID"


class SpecTooLarge(SpecInvalid):
    """Past a size cap (steps, an expression's length, nesting): the message names it."""

    code = "SPEC_TOO_LARGE"


class UnknownStep(SpecInvalid):
    code = "UNKNOWN_STEP"


class ExpressionInvalid(SpecInvalid):
    code = "EXPRESSION_INVALID"


class SourceInvalid(InvalidInput):
    code = "SOURCE_INVALID"


class SourceUnreadable(DataFlowError, Terminal):
    """The source exists in the catalogue but its file cannot be opened."""

    code = "SOURCE_UNREADABLE"


class SourceMalformed(DataFlowError, Terminal):
    """The source's bytes do not parse (a ragged CSV row, bad encoding)."""

    code = "SOURCE_MALFORMED"


class TransformFailed(DataFlowError, Terminal):
    """A step failed on real data (a column missing, a type clash at run time)."""

    code = "TRANSFORM_FAILED"


class _StorageFailure(DataFlowError):
    # What a client is told instead of a storage driver's words, which may name server
    # paths or quote SQL: those go to the log (and a run's record) only.
    client_hint: ClassVar[str]

    @classmethod
    def from_driver(cls, action: str, detail: object) -> Self:
        """`action` failed with the driver's `detail`, which the client does not see."""
        return cls(f"{action}: {detail}", client_message=f"{action}: {cls.client_hint}")


class WarehouseError(_StorageFailure, Terminal):
    code = "WAREHOUSE_ERROR"
    client_hint = "the warehouse failed; an operator can find why in the server log"


class WarehouseUnavailable(_StorageFailure, Transient):
    code = "WAREHOUSE_UNAVAILABLE"
    client_hint = "the warehouse is unavailable; retry shortly"


class RunTakenAway(DataFlowError, Terminal):
    """This attempt of a run does not own the run any more: the reaper took it back when
    its lease ran out, or a later attempt claimed the run or its warehouse load.

    The worker holding the stale attempt stops at once and writes nothing more: not the
    run's end (the owner records that), not its staging (the owner's batches are there).
    Raised by every fence a run passes (the run row, its lease, its load's ledger)."""

    code = "RUN_TAKEN_AWAY"


class InvalidTransition(DataFlowError, Terminal):
    code = "INVALID_TRANSITION"
    client_error = True


class Unauthenticated(DataFlowError, Terminal):
    code = "UNAUTHENTICATED"
    client_error = True


class Forbidden(DataFlowError, Terminal):
    code = "FORBIDDEN"
    client_error = True


def client_error_codes() -> frozenset[str]:
    """The codes of every DataFlowError that is the caller's mistake (of the classes
    defined so far: call it once everything is imported)."""
    codes: set[str] = set()
    pending: list[type[DataFlowError]] = [DataFlowError]
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        if kind.client_error:
            codes.add(kind.code)
    return frozenset(codes)
