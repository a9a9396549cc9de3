"""A run's progress ticks, sampled: every event passes, progress at most once per interval."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from app.event_types import Progress

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.etl.context import EventSink
    from app.event_types import Event


class SampledProgress:
    """An event sink in front of `sink` that passes on every event, but progress at most
    once per `every` seconds (0: every one).

    The engine ticks after each batch. Where each tick is a metadata transaction and a
    publish (the worker's recorder), writing all of them made a 5M-row run wait on 200
    writes between its batches, and spend their CPU beside the warehouse's COPY; a
    dashboard needs a few a second. A tick held back is passed on before the next event
    of another kind or stage, so the last progress a client sees has the final counts,
    and a cancel is still noticed (by the write that refuses it) before the load commits.
    """

    def __init__(
        self, sink: EventSink, every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sink = sink
        self._every = every
        self._clock = clock
        self._held: Progress | None = None
        self._passed_at: float | None = None

    async def __call__(self, event: Event) -> None:
        if not isinstance(event, Progress):
            await self.flush()
            await self._sink(event)
            return
        if self._held is not None and self._held.stage is not event.stage:
            await self.flush()
        if self._passed_at is not None and self._clock() - self._passed_at < self._every:
            self._held = event  # a newer tick replaces the one held: it counts more
            return
        self._held = None
        await self._pass(event)

    async def flush(self) -> None:
        """Pass on the tick held back, if any."""
        held, self._held = self._held, None
        if held is not None:
            await self._pass(held)

    async def _pass(self, event: Progress) -> None:
        self._passed_at = self._clock()
        await self._sink(event)
