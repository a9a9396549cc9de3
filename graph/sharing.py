"""Shared subscription results: subscribers asking the same thing of the same run event
share one execution (and, in graph/ws.py, one JSON encoding).

A result is keyed on all that it depends on: the document, the operation name, the
variables, the caller's role (the socket handler puts these in `sharing_for_operation`)
and the event. Run events never change once stored, so the same key always means the same
result. Results with errors are never shared: each subscriber gets its own, through
Strawberry's error handling.

Built on public hooks only: the schema's `execution_context_class` (graphql-core makes
each event's executor by `build_per_event_executor`, then calls its `execute_operation`)
and the schema's `create_extensions_runner`.
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

from graph.execution import PlannedExecutionContext
from graph.types import RunEvent

if TYPE_CHECKING:
    from collections.abc import Hashable

    from graphql import ExecutionResult as CoreResult
    from strawberry.types.execution import ExecutionContext as StrawberryExecutionContext

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
        self.executions = 0  # how many results were computed (for tests and benchmarks)

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


def executions() -> int:
    """How many shared results every view of this process has computed (for tests and
    benchmarks: with sharing, one per event and question, however many subscribers)."""
    return sum(results.executions for results in list(_results_by_view.values()))


@dataclass(eq=False)
class Sharing:
    """One operation's link between the executor (which finds or makes each event's
    result) and the handler (which sends it). Lives in the operation task's context."""

    results: SharedResults
    key: Hashable
    last: SharedResult | None = None  # this event's shared result, if it has no errors


_sharing: contextvars.ContextVar[Sharing | None] = contextvars.ContextVar(
    "dataflow_ws_sharing", default=None
)


def share_results(sharing: Sharing) -> None:
    """Share the results of the operation that runs in this task (and tasks it starts)."""
    _sharing.set(sharing)


def current_sharing() -> Sharing | None:
    return _sharing.get()


def _event_identity(payload: object) -> Hashable | None:
    # Opt-in per type: only immutable events may be shared (a Run snapshot with the same
    # id changes from one update to the next).
    if isinstance(payload, RunEvent):
        return ("RunEvent", str(payload.run_id), str(payload.id))
    return None


class SharingExecutor(PlannedExecutionContext):
    """The schema's executor: planned completion, and, for a subscription whose task
    shares results, each event executed once per sharing key (later subscribers get the
    same result object). Without sharing (HTTP, queries over a socket) it is the planned
    executor unchanged."""

    share_key: Hashable | None = None

    def build_per_event_executor(self, payload: Any) -> SharingExecutor:
        sharing = _sharing.get()
        if sharing is None:
            return cast("SharingExecutor", super().build_per_event_executor(payload))
        sharing.last = None  # until this event's result is known to be shared
        identity = _event_identity(payload)
        if identity is not None:
            entry = sharing.results.get((sharing.key, identity))
            if entry is not None:
                sharing.last = entry
                return _Answered(entry)  # no per-event copy of this executor either
        executor = cast("SharingExecutor", super().build_per_event_executor(payload))
        executor.share_key = identity
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        sharing = _sharing.get()
        if self.share_key is None or sharing is None:
            return super().execute_operation(serially)
        key = (sharing.key, self.share_key)
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return self._remember_later(result, sharing, key)
        _remember(cast("CoreResult", result), sharing, key)
        return result

    async def _remember_later(self, result: Any, sharing: Sharing, key: Hashable) -> Any:
        done = await result
        _remember(done, sharing, key)
        return done


def _remember(result: CoreResult, sharing: Sharing, key: Hashable) -> None:
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
    adds no results of its own, and its stream hook is the base no-op or says it only
    acts on errors (`ignores_clean_results`, as error masking does)."""
    kind = type(extension)
    if kind.get_results is not SchemaExtension.get_results:
        return False
    return kind.on_stream_result is SchemaExtension.on_stream_result or bool(
        getattr(kind, "ignores_clean_results", False)
    )


class SharingExtensionsRunner(SchemaExtensionsRunner):
    """Skips the per-result extension hooks for a shared result without errors, when no
    extension would do anything with it (this schema's limits and caches act on the
    document, its masking on errors). For 500 subscribers of one run, entering those
    hooks was a sixth of the API's CPU per event. Anywhere else it is Strawberry's."""

    def __init__(
        self, execution_context: StrawberryExecutionContext, extensions: list[SchemaExtension]
    ) -> None:
        super().__init__(execution_context, extensions)
        self.may_skip = all(_ignores_clean_results(item) for item in self.extensions)

    def _shared_and_clean(self) -> bool:
        # `last` is set by the executor for this event only when its result has no errors.
        sharing = _sharing.get()
        return self.may_skip and sharing is not None and sharing.last is not None

    def on_stream_result(self, result: Any) -> Any:
        if self._shared_and_clean():
            return contextlib.nullcontext()
        return super().on_stream_result(result)

    async def get_extensions_results(self, ctx: StrawberryExecutionContext) -> dict[str, Any]:
        if self._shared_and_clean() and not ctx.extensions_results:
            return {}
        return await super().get_extensions_results(ctx)
