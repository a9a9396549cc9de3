"""Back-to-back COPY statements fed from a short queue of already encoded batches."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    CopyBatch = Callable[[bytes, list[str]], Awaitable[None]]

# Encoded batches waiting for the server: enough that it never waits for the encoder,
# few enough that memory stays a few batches.
QUEUE_DEPTH = 2


class CopyPipeline:
    """Runs `copy_batch` for each queued batch, one at a time, in order.

    The connection runs one statement at a time, so one task owns it for the COPYs;
    the caller encodes the next batches meanwhile. A failed COPY stops the pipeline and
    its error is raised by the next `put` or by `finish`.
    """

    def __init__(self, copy_batch: CopyBatch) -> None:
        self._copy_batch = copy_batch
        self._queue: asyncio.Queue[tuple[bytes, list[str]] | None] = asyncio.Queue(QUEUE_DEPTH)
        self._task: asyncio.Task[None] | None = None

    async def put(self, payload: bytes, columns: list[str]) -> None:
        await self._put((payload, columns))

    async def finish(self) -> None:
        """Wait until every queued batch is copied; raise the first failure."""
        if self._task is None:
            return
        await self._put(None)
        await self._task

    async def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _put(self, item: tuple[bytes, list[str]] | None) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        if self._task.done():
            await self._task  # raises the failure that stopped it
        await self._queue.put(item)

    async def _run(self) -> None:
        try:
            while (item := await self._queue.get()) is not None:
                await self._copy_batch(*item)
        except BaseException:
            # Unblock a writer waiting for room; it sees the failure on its next put.
            while not self._queue.empty():
                self._queue.get_nowait()
            raise
