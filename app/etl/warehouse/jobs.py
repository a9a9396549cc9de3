"""Back-to-back batch transactions on one connection, fed from a short queue."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Job = Callable[[], Awaitable[None]]

# Encoded batches waiting for the server: enough that it never waits for the encoder,
# few enough that memory stays a few batches.
QUEUE_DEPTH = 1


class BatchJobs:
    """Runs each queued job, one at a time, in order, on a task of its own.

    A connection runs one statement at a time, so one task owns it for the batches
    while the caller encodes the next ones. A failed job stops the queue and its error
    is raised by the next `put` or by `finish`.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue(QUEUE_DEPTH)
        self._task: asyncio.Task[None] | None = None

    async def put(self, job: Job) -> None:
        await self._put(job)

    async def finish(self) -> None:
        """Wait until every queued job is done; raise the first failure."""
        if self._task is None:
            return
        await self._put(None)
        await self._task
        self._task = None

    async def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def _put(self, item: Job | None) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        if self._task.done():
            await self._task  # raises the failure that stopped it
        await self._queue.put(item)

    async def _run(self) -> None:
        try:
            while (job := await self._queue.get()) is not None:
                await job()
        except BaseException:
            # Unblock a writer waiting for room; it sees the failure on its next put.
            while not self._queue.empty():
                self._queue.get_nowait()
            raise
