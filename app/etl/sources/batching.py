"""Re-cutting a stream of frames into batches of exactly `batch_rows` (the last may be short)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def _combine(frames: list[pl.DataFrame]) -> pl.DataFrame:
    if len(frames) == 1:
        return frames[0]
    same = all(frame.schema == frames[0].schema for frame in frames)
    # Frames with extra JSON keys differ in columns; a row without a key has null there.
    return pl.concat(frames, how="vertical" if same else "diagonal_relaxed", rechunk=False)


async def rebatch(
    frames: AsyncIterator[pl.DataFrame], batch_rows: int
) -> AsyncIterator[pl.DataFrame]:
    """At most a batch and a frame are held: slicing and concatenating copy no data."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    pending: list[pl.DataFrame] = []
    rows = 0
    async for frame in frames:
        if not frame.height:
            continue
        pending.append(frame)
        rows += frame.height
        while rows >= batch_rows:
            combined = _combine(pending)
            yield combined.slice(0, batch_rows)
            rest = combined.slice(batch_rows)
            pending, rows = ([rest] if rest.height else []), rest.height
    if pending:
        yield _combine(pending)
