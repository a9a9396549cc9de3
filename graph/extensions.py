"""Schema extensions: typed request errors, and every error logged once by what it means
(the caller's mistake at info, a failure of ours at error with its context) and masked
when it is unexpected."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from contextvars import ContextVar
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import (
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    ValuesOfCorrectTypeRule,
)
from strawberry.extensions import SchemaExtension

from app.errors import DataFlowError, Transient, client_error_codes
from app.faults import is_lost_connection
from graph.input_errors import (
    BAD_REQUEST,
    BAD_USER_INPUT,
    GRAPHQL_PARSE_FAILED,
    GRAPHQL_VALIDATION_FAILED,
    REQUEST_ERROR_CODES,
    ArgumentValuesRule,
    code_of,
)
from graph.sharing import SharingExtensionsRunner

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from strawberry.extensions.runner import SchemaExtensionsRunner
    from strawberry.types import ExecutionContext
    from strawberry.types.execution import ExecutionResult, StreamExecutionResult
    from strawberry.types.graphql import OperationType

    from graph.context import Context

logger = logging.getLogger("dataflow.graphql")

_SECRET_WORDS = ("password", "secret", "token", "apikey", "api_key", "authorization")

# Codes of the GraphQL layer's own refusals of a caller, beside DataFlowError's.
_GRAPHQL_CLIENT_CODES = frozenset({*REQUEST_ERROR_CODES, "TOO_MANY_SUBSCRIPTIONS"})


def redact(value: Any) -> Any:
    """Variables as they may be logged: anything named like a secret is hidden."""
    if isinstance(value, dict):
        return {
            key: "[redacted]" if any(w in key.lower() for w in _SECRET_WORDS) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


class Kind(Enum):
    """What an error means, which decides how it is logged and what the client sees."""

    CLIENT = "client"  # the caller's mistake: info, no traceback, shown as it is
    UNAVAILABLE = "unavailable"  # a lost connection: warning; the client is told to retry
    SERVER = "server"  # a failure of ours with a code: error (warning if transient)
    UNEXPECTED = "unexpected"  # no code at all: error; masked as INTERNAL_ERROR


@functools.cache
def _client_codes() -> frozenset[str]:
    # Asked at the first error, once every module (and its error classes) is imported.
    return client_error_codes() | _GRAPHQL_CLIENT_CODES


def root_cause(error: GraphQLError) -> BaseException | None:
    """The exception behind a GraphQL error, through the GraphQLErrors wrapping it."""
    original: BaseException | None = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def kind_of(error: GraphQLError) -> Kind:
    cause = root_cause(error)
    code = code_of(error)
    if isinstance(cause, DataFlowError):
        code = code or cause.code
        if cause.client_error:
            return Kind.CLIENT
    if code is not None:
        return Kind.CLIENT if code in _client_codes() else Kind.SERVER
    if cause is None or isinstance(cause, GraphQLError):
        return Kind.CLIENT  # graphql-core's refusal of the request itself
    if is_lost_connection(cause):
        return Kind.UNAVAILABLE
    return Kind.UNEXPECTED


# Whether the client named the operation to run (None where it is not known). Strawberry
# runs a document's first operation when none is named; GraphQL requires an error when
# the document has more than one. Set by `DataFlowSchema.execute` and `stream` (which
# the WebSocket handler's operations go through too).
operation_named: ContextVar[bool | None] = ContextVar("dataflow_operation_named", default=None)


def _unnamed_choice(execution: ExecutionContext) -> GraphQLError | None:
    """The request error of a document with several operations and no operationName."""
    if operation_named.get() is not False or execution.graphql_document is None:
        return None
    names = [
        definition.name.value if definition.name else "(anonymous)"
        for definition in execution.graphql_document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    if len(names) < 2:  # one operation needs no name
        return None
    return GraphQLError(
        f"the document has {len(names)} operations ({', '.join(names)}): "
        "name the one to run in operationName",
        extensions={"code": BAD_REQUEST},
    )


class TypedRequestErrors(SchemaExtension):
    """Request errors with codes: values that do not fit (BAD_USER_INPUT, by
    `ArgumentValuesRule`), other invalid documents, documents that do not parse, and
    documents with several operations that name none to run (BAD_REQUEST)."""

    def on_operation(self) -> Iterator[None]:
        rules = self.execution_context.validation_rules
        # The same classes every time, so the validation cache still finds documents.
        self.execution_context.validation_rules = tuple(
            ArgumentValuesRule if rule is ValuesOfCorrectTypeRule else rule for rule in rules
        )
        yield

    def on_validate(self) -> Iterator[None]:
        # Before validation ends (the validation cache, entered earlier, has already
        # validated): Strawberry stops at the errors it finds once validation is done.
        execution = self.execution_context
        unnamed = _unnamed_choice(execution)
        if unnamed is not None:  # a new list: the cached one is shared by later requests
            execution.pre_execution_errors = [*(execution.pre_execution_errors or []), unnamed]
        yield
        for error in self.execution_context.pre_execution_errors or []:
            # Cached errors come back on every request: setting a code twice is harmless.
            _set_code(error, GRAPHQL_VALIDATION_FAILED)


def _set_code(error: GraphQLError, code: str) -> None:
    if code_of(error) is None:
        error.extensions = {**(error.extensions or {}), "code": code}


class MaskAndLogErrors(SchemaExtension):
    """Each error logged once, by its kind; unexpected ones reach the client as "internal
    error" (or "retry", for a lost connection) and a request id, storage failures as a
    fixed text and the request id.

    Strawberry's `MaskErrors` does the masking part through a method that is not public
    API; this does it all through the public hooks: `on_operation` for a single result,
    `on_stream_result` for each result of a stream (then the operation's end skips it)."""

    # A result without errors passes untouched (graph/sharing.py skips the stream hooks
    # of a shared result when every extension says so).
    ignores_clean_results = True

    def __init__(self) -> None:
        self._request_id: str | None = None
        self._stream_results_seen = False

    def on_operation(self) -> Iterator[None]:
        self._stream_results_seen = False
        yield
        if self._stream_results_seen:
            return  # each was handled as it was sent
        result = self.execution_context.result
        # Incremental delivery keeps its first result apart: that one holds the errors.
        self._handle(getattr(result, "initial_result", None) or result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._stream_results_seen = True
        self._handle(result)
        for part in (
            *(getattr(result, "incremental", None) or ()),
            *(getattr(result, "completed", None) or ()),
        ):
            self._handle(part)
        yield

    def _handle(self, result: object) -> None:
        # A result without errors (500 subscribers' events, most pages) needs nothing.
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if not errors:
            return
        for error in errors:
            if not isinstance(error, GraphQLSyntaxError):  # DataFlowSchema logs those
                self._log(error)
        shown = [self._masked(error) if _should_mask(error) else error for error in errors]
        for error in shown:
            self._withhold_detail(error)
        result.errors = shown  # type: ignore[attr-defined]  # it has `errors`, read above

    def _masked(self, error: GraphQLError) -> GraphQLError:
        """The error as the client sees it: where it happened, not what it was."""
        request_id = self.request_id()
        if kind_of(error) is Kind.UNAVAILABLE:
            message = f"a backing service is unavailable; retry shortly (request id {request_id})"
            extensions = {"code": "SERVICE_UNAVAILABLE", "requestId": request_id}
        else:
            message = f"internal error (request id {request_id})"
            extensions = {"code": "INTERNAL_ERROR", "requestId": request_id}
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )

    def _withhold_detail(self, error: GraphQLError) -> None:
        """A failure whose message holds what only the server may see (a storage
        driver's words: paths, SQL) reaches the client as its fixed client message, with
        the request id that finds the rest in the log."""
        cause = root_cause(error)
        if isinstance(cause, DataFlowError) and cause.client_message != cause.message:
            request_id = self.request_id()
            error.message = f"{cause.client_message} (request id {request_id})"
            error.extensions = {**(error.extensions or {}), "requestId": request_id}

    def _log(self, error: GraphQLError) -> None:
        kind = kind_of(error)
        execution = self.execution_context
        context: Context | None = execution.context
        entry: dict[str, Any] = {
            "request_id": self.request_id(),
            "user_id": context.peek_user_id() if context is not None else None,
            "operation": execution.operation_name,
            "code": code_of(error),
            "path": error.path,
        }
        what = execution.operation_name or "an anonymous operation"
        if kind is Kind.CLIENT:
            logger.info("refused %s: %s", what, error.message, extra=entry)
            return
        entry["variables"] = redact(execution.variables or {})
        entry["run_id"] = (execution.variables or {}).get("runId")
        cause = root_cause(error)
        if kind is Kind.UNAVAILABLE or isinstance(cause, Transient):
            level, summary = logging.WARNING, "a backing service failed"
        else:
            level, summary = logging.ERROR, "unexpected error"
        logger.log(
            level, "%s in %s: %s", summary, what, cause or error, exc_info=cause, extra=entry
        )

    def request_id(self) -> str:
        """The HTTP request's id (X-Request-ID); over WebSocket, one per operation."""
        if self._request_id is None:
            self._request_id = _request_id_of(self.execution_context) or uuid.uuid4().hex
        return self._request_id


def _request_id_of(execution: ExecutionContext) -> str | None:
    context: Context | None = execution.context
    if context is None or context.request.scope["type"] != "http":
        return None
    state = context.request.scope.get("state") or {}
    found = state.get("request_id") if isinstance(state, dict) else None
    return str(found) if found else None


def _should_mask(error: GraphQLError) -> bool:
    """Hide unexpected failures; expected ones carry a code clients can act on."""
    return kind_of(error) in {Kind.UNEXPECTED, Kind.UNAVAILABLE}


# graphql-core's suggestions: "Did you mean 'pipeline' or 'pipelines'?", "Did you mean
# the enum value 'QUEUED'?" (schema names hold no '?').
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class DataFlowSchema(strawberry.Schema):
    """The schema, with errors logged by `MaskAndLogErrors` (Strawberry's own hook logs
    every error at error level with a traceback, a wrong password included), except a
    document that does not parse: the parser cache raises it while the extensions' hooks
    are being entered, so it never reaches their results, only this hook.

    With `disable_field_suggestions` (introspection off) no message suggests a name of
    the schema: Strawberry's option strips them from unknown fields only; this hook from
    every error (arguments, types, enum values, input fields, variables)."""

    async def execute(  # Strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        named = operation_named.set(operation_name is not None)
        try:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed_operation_types,
                operation_extensions,
            )
        finally:
            operation_named.reset(named)

    async def stream(  # Strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> Any:
        # Not reset: the stream is read (and its document validated) later, in this
        # request's task or one it starts, which see this value.
        operation_named.set(operation_name is not None)
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        # Strawberry's runner, which skips the hooks of a shared subscription result.
        return SharingExtensionsRunner(execution_context, extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        if self.config.disable_field_suggestions:
            for error in errors:
                error.message = _SUGGESTION.sub("", error.message)
        for error in errors:
            if isinstance(error, GraphQLSyntaxError):
                _set_code(error, GRAPHQL_PARSE_FAILED)
                request_id = _request_id_of(execution_context) if execution_context else None
                logger.info(
                    "refused a document that does not parse: %s",
                    error.message,
                    extra={"request_id": request_id, "code": GRAPHQL_PARSE_FAILED},
                )


__all__ = ["BAD_USER_INPUT", "DataFlowSchema", "MaskAndLogErrors", "TypedRequestErrors"]
