"""graphql-transport-ws with shared results: subscribers asking the same thing of the same
run event share one execution and one JSON encoding, sent as the same text to each socket.

Everything else is Strawberry's handler: parsing, validation, permissions (checked per
subscriber when its stream starts), the subscription cap, errors and `complete`. Only the
per-event step is shared, keyed on all that its result depends on: the document, the
operation name, the variables, the caller's role and the event. Run events never change
once stored, so the same key always means the same result. Results with errors are never
shared: each subscriber gets its own, through Strawberry's error handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import Schema
from strawberry.schema.schema import (
    DEFAULT_ALLOWED_OPERATION_TYPES,
    StrawberryGraphQLCoreExecutionContext,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.types.execution import ExecutionContext as StrawberryExecutionContext
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from app.errors import Unauthenticated
from graph.context import SOCKET_CHECK_SECONDS, Context
from graph.extensions import operation_named
from graph.types import RunEvent

if TYPE_CHECKING:
    from collections.abc import Hashable

    from graphql import ExecutionResult as CoreResult
    from strawberry.schema.schema import StreamResult
    from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
        ConnectionInitMessage,
    )

logger = logging.getLogger(__name__)

# Plenty for every live run's latest events; a subscriber that falls further behind
# only pays for its own execution again.
MAX_SHARED_RESULTS = 4096


@dataclass(eq=False)
class SharedResult:
    result: CoreResult
    payload_text: str | None = None  # the `next` payload, encoded by its first sender


class SharedResults:
    """An LRU of per-event results, one per view (so one per app and its database)."""

    def __init__(self, size: int = MAX_SHARED_RESULTS) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, SharedResult] = OrderedDict()
        self.executions = 0  # how many results were computed (for tests)

    def get(self, key: Hashable) -> SharedResult | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, result: CoreResult) -> SharedResult:
        self.executions += 1
        entry = self._entries[key] = SharedResult(result)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return entry


_results_by_view: weakref.WeakKeyDictionary[object, SharedResults] = weakref.WeakKeyDictionary()


def shared_results(view: object) -> SharedResults:
    if view not in _results_by_view:
        _results_by_view[view] = SharedResults()
    return _results_by_view[view]


@dataclass(eq=False)
class _Sharing:
    """One operation's link between the executor (which finds or makes the result) and
    the handler (which sends it). Lives in the operation task's context."""

    results: SharedResults
    key: Hashable
    last: SharedResult | None = None


_sharing: contextvars.ContextVar[_Sharing | None] = contextvars.ContextVar(
    "dataflow_ws_sharing", default=None
)


def _event_identity(payload: object) -> Hashable | None:
    # Opt-in per type: only immutable events may be shared (a Run snapshot with the same
    # id changes from one update to the next).
    if isinstance(payload, RunEvent):
        return ("RunEvent", str(payload.run_id), str(payload.id))
    return None


class SharingExecutor(StrawberryGraphQLCoreExecutionContext):
    """Executes a subscription event once per sharing key; later subscribers get the
    same result object."""

    _share_key: Hashable | None = None

    def build_per_event_executor(self, payload: Any) -> SharingExecutor:
        sharing = _sharing.get()
        identity = None if sharing is None else _event_identity(payload)
        if sharing is not None and identity is not None:
            entry = sharing.results.get((sharing.key, identity))
            if entry is not None:
                sharing.last = entry
                return _Answered(entry)  # no per-event copy of this executor either
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, SharingExecutor)
        executor._share_key = identity
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        sharing = _sharing.get()
        if self._share_key is None or sharing is None:
            return super().execute_operation(serially)
        key = (sharing.key, self._share_key)
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return self._remember_later(result, sharing, key)
        self._remember(cast("CoreResult", result), sharing, key)
        return result

    async def _remember_later(self, result: Any, sharing: _Sharing, key: Hashable) -> Any:
        done = await result
        self._remember(done, sharing, key)
        return done

    @staticmethod
    def _remember(result: CoreResult, sharing: _Sharing, key: Hashable) -> None:
        sharing.last = sharing.results.put(key, result) if not result.errors else None


class _Answered(SharingExecutor):
    """The per-event executor of an event whose result is already made: graphql-core
    only calls its `execute_operation`, which executes nothing."""

    def __init__(self, entry: SharedResult) -> None:  # no state of an executor needed
        self._entry = entry

    def execute_operation(self, serially: bool | None = None) -> Any:  # noqa: ARG002
        return self._entry.result


def _ignores_clean_results(extension: SchemaExtension) -> bool:
    """Whether an extension does nothing with a streamed result that has no errors: it
    adds no results of its own, and its stream hook is the base no-op or error masking."""
    kind = type(extension)
    if kind.get_results is not SchemaExtension.get_results:
        return False
    return kind.on_stream_result is SchemaExtension.on_stream_result or isinstance(
        extension, MaskErrors
    )


class SharingExtensionsRunner(SchemaExtensionsRunner):
    """Skips the per-result extension hooks for a shared result without errors, when no
    extension would do anything with it (this schema's limits and caches act on the
    document, its masking on errors). For 500 subscribers of one run, entering those
    hooks was a sixth of the API's CPU per event."""

    def __init__(
        self, execution_context: StrawberryExecutionContext, extensions: list[SchemaExtension]
    ) -> None:
        super().__init__(execution_context, extensions)
        self._may_skip = all(_ignores_clean_results(item) for item in self.extensions)

    def _shared_and_clean(self) -> bool:
        # `last` is set by the executor for this event only when its result has no errors.
        sharing = _sharing.get()
        return self._may_skip and sharing is not None and sharing.last is not None

    def on_stream_result(self, result: Any) -> Any:
        if self._shared_and_clean():
            return contextlib.nullcontext()
        return super().on_stream_result(result)

    async def get_extensions_results(self, ctx: StrawberryExecutionContext) -> dict[str, Any]:
        if self._shared_and_clean() and not ctx.extensions_results:
            return {}
        return await super().get_extensions_results(ctx)


class SharedResultsTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """The socket follows its account: its credential is verified again when each
    operation starts and every SOCKET_CHECK_SECONDS while it is open. A credential that
    ended (disabled account, revoked key or token, expiry) closes it with 4401, one that
    no longer grants a running operation's role with 4403; a smaller role that still
    suffices is what every later operation sees."""

    _watch: asyncio.Task[None] | None = None
    _wake: asyncio.Event | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.context.holds_credential and not self._watch:
            self._wake = asyncio.Event()
            self._watch = asyncio.create_task(self._watch_credential(self._wake))
            self._watch.add_done_callback(self._task_done)

    async def shutdown(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await super().shutdown()

    async def _watch_credential(self, wake: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), SOCKET_CHECK_SECONDS)
            wake.clear()
            code = await self._verify_again()
            if code is not None:
                reason = self.context.close_reason(code)
                logger.info(
                    "closed a socket whose credential no longer holds (%s): %s",
                    code,
                    reason,
                    extra={"user_id": self.context.user_id_seen, "code": code},
                )
                await self.websocket.close(code=code, reason=reason)
                return

    async def _verify_again(self) -> int | None:
        try:
            return await self.context.verify_again()
        except Exception:
            # The database is away, say: the socket keeps what it had and asks again.
            logger.warning("could not verify a socket's credential again", exc_info=True)
            return None

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Strawberry's, but subscriptions run with `SharingExecutor` (queries over the
        socket keep the schema's executor), and the operation sees the caller as the
        credential stands now, not as it stood when the socket opened."""
        self.context.begin_operation(operation.id)  # this operation's task only
        operation_named.set(operation.operation_name is not None)  # this task's too
        ended = await self._verify_again() is not None
        try:
            _sharing.set(await self._sharing_for(operation))  # this operation's task only
            async with aclosing(self._stream(operation)) as result_source:
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
            return
        except Exception as error:  # pragma: no cover (Strawberry's own last resort)
            await self.handle_task_exception(error)
            try:
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            finally:
                self.operations.pop(operation.id, None)
            raise
        finally:
            self.context.end_operation(operation.id)
            if ended and self._wake is not None:
                self._wake.set()  # refused with its error; now the socket closes

    async def _sharing_for(self, operation: Operation[Context, None]) -> _Sharing:
        try:
            caller = await self.context.caller()
        except Unauthenticated:
            caller = None  # the field's permission check says so to the client
        variables = json.dumps(operation.variables, sort_keys=True, default=str)
        role = caller.role.value if caller is not None else None
        key = (operation.query, operation.operation_name, variables, role)
        return _Sharing(shared_results(self.view), key)

    def _stream(self, operation: Operation[Context, None]) -> StreamResult:
        # `Schema.stream` with an executor class of our own: it takes none as an argument.
        schema = self.schema
        assert isinstance(schema, Schema)
        execution_context = schema._create_execution_context(
            query=operation.query,
            allowed_operation_types=DEFAULT_ALLOWED_OPERATION_TYPES,
            variable_values=operation.variables,
            context_value=self.context,
            root_value=self.root_value,
            operation_name=operation.operation_name,
        )
        extensions = schema.get_extensions()
        for extension in extensions:
            extension.execution_context = execution_context
        return schema._stream(
            execution_context,
            extensions_runner=SharingExtensionsRunner(execution_context, extensions),
            middleware_manager=schema._get_middleware_manager(extensions),
            execution_context_class=SharingExecutor,
        )

    async def _send_result_stream(
        self, operation: Operation[Context, None], result_source: StreamResult
    ) -> None:
        # Strawberry's loop, plus the shared path for a result the executor shared.
        sharing = _sharing.get()
        is_first_result = True
        async for result in result_source:
            if is_first_result and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                return
            if not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                return
            entry = sharing.last if sharing is not None else None
            if sharing is not None:
                sharing.last = None
            if entry is not None and _is_plain(result, entry):
                await self._send_shared(operation, entry)
            else:
                await operation.send_next(result)
            is_first_result = False

    async def _send_shared(self, operation: Operation[Context, None], entry: SharedResult) -> None:
        if operation.completed:
            return
        if entry.payload_text is None:
            entry.payload_text = self.view.encode_json_string({"data": entry.result.data})
        # Byte for byte what `send_next` would send, without encoding the payload again.
        frame = (
            f'{{"id":{self.view.encode_json_string(operation.id)},'
            f'"type":"next","payload":{entry.payload_text}}}'
        )
        assert isinstance(self.websocket, ASGIWebSocketAdapter)
        try:
            await self.websocket.ws.send_text(frame)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error


def _is_plain(result: ExecutionResult, entry: SharedResult) -> bool:
    """The result is the shared one, untouched: no errors, no extension output."""
    return result.data is entry.result.data and not result.errors and not result.extensions
