"""Schema extensions: masking unexpected errors (logged with full context), and limits."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from app.errors import DataFlowError
from app.faults import is_lost_connection

if TYPE_CHECKING:
    from graph.context import Context

logger = logging.getLogger("dataflow.graphql")

_SECRET_WORDS = ("password", "secret", "token", "apikey", "api_key", "authorization")


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


def should_mask(error: GraphQLError) -> bool:
    """Hide unexpected failures; expected ones carry a code clients can act on."""
    original = error.original_error
    if original is None or isinstance(original, DataFlowError):
        return False
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        return False
    return not (error.extensions or {}).get("code")


class MaskAndLogErrors(MaskErrors):
    """Clients get "internal error" (or "service unavailable", for a lost connection)
    and a request id; the logs get everything else."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask, error_message="internal error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = self._request_id()
        execution = self.execution_context
        context: Context | None = execution.context
        user = context.peek_user_id() if context is not None else None
        # A lost connection to the database or Redis is no bug, and the same request a
        # moment later usually succeeds (the pool has replaced the connection): clients
        # get a code that says "retry" rather than "report this".
        unavailable = error.original_error is not None and is_lost_connection(error.original_error)
        logger.log(
            logging.WARNING if unavailable else logging.ERROR,
            "%s in %s",
            "a backing service failed" if unavailable else "unexpected error",
            execution.operation_name or "an anonymous operation",
            exc_info=error.original_error,
            extra={
                "request_id": request_id,
                "user_id": user,
                "operation": execution.operation_name,
                "variables": redact(execution.variables or {}),
                "path": error.path,
                "run_id": (execution.variables or {}).get("runId"),
            },
        )
        masked = super().anonymise_error(error)
        if unavailable:
            masked.message = (
                f"a backing service is unavailable; retry shortly (request id {request_id})"
            )
            masked.extensions = {"code": "SERVICE_UNAVAILABLE", "requestId": request_id}
        else:
            masked.message = f"internal error (request id {request_id})"
            masked.extensions = {"code": "INTERNAL_ERROR", "requestId": request_id}
        return masked

    def _process_result(self, result: object) -> None:
        # Strawberry's check is `isinstance` against a runtime Protocol, which Python 3.11
        # answers by walking the class's attributes each time: a fifth of the API's CPU
        # when one event goes to 500 subscribers. A result without errors needs nothing.
        if getattr(result, "errors", None):
            super()._process_result(result)

    def _request_id(self) -> str:
        context: Context | None = self.execution_context.context
        if context is not None:
            state = context.request.scope.get("state") or {}
            if isinstance(state, dict) and state.get("request_id"):
                return str(state["request_id"])
        return uuid.uuid4().hex
