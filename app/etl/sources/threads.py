"""Driving blocking (sync) generators from async code, one step per worker thread."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

_T = TypeVar("_T")


async def finish_in_thread(function: Callable[..., _T], *args: Any) -> _T:
    """`asyncio.to_thread`, but a cancelled caller still waits for the thread to end.

    A thread cannot be stopped; waiting means whatever it was driving (a generator, an
    open file) is idle afterwards and can be closed safely.
    """
    future = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await future
        raise


def _step(iterator: Iterator[_T]) -> tuple[bool, _T | None]:
    for item in iterator:
        return True, item
    return False, None


async def iterate_in_thread(iterator: Iterator[_T]) -> AsyncIterator[_T]:
    """Yield the iterator's items, each computed in a thread; a generator is closed after."""
    try:
        while True:
            more, item = await finish_in_thread(_step, iterator)
            if not more:
                return
            yield item  # type: ignore[misc]  # `more` means an item of type _T
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
