"""Reading the other side of each join once, into memory, before the input streams."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import polars as pl

from app.errors import SpecInvalid, TransformFailed
from app.etl.sources.reader import LOCATION_COLUMNS, ReadContext, open_reader
from app.etl.steps_table import JoinStep

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.etl.sources import SourceConfig
    from app.etl.spec import PipelineSpec
    from app.etl.warehouse.protocol import TableReader

# The side of a join is held in memory for the whole run; past this, it is not "small".
MAX_JOIN_ROWS = 2_000_000
_READ_ROWS = 100_000


async def read_join_sides(
    spec: PipelineSpec,
    warehouse: TableReader,
    sources: Mapping[str, SourceConfig],
    params: Mapping[str, Any],
) -> dict[str, pl.LazyFrame]:
    """Every join's other side, keyed by `JoinOptions.side`."""
    sides: dict[str, pl.LazyFrame] = {}
    for index, step in enumerate(spec.steps):
        if not isinstance(step, JoinStep) or step.join.side in sides:
            continue
        options = step.join
        if options.table is not None:
            frame = await warehouse.read_table(options.table)
        else:
            config = sources.get(options.source or "")
            if config is None:
                raise SpecInvalid(
                    f"steps[{index}].join.source: no source named {options.source!r}",
                    path=["steps", str(index), "join", "source"],
                )
            frame = await _read_source(config, params, index)
        _check_size(frame, index)
        sides[options.side] = frame.lazy()
    return sides


async def _read_source(config: SourceConfig, params: Mapping[str, Any], index: int) -> pl.DataFrame:
    reader = open_reader(config, ReadContext(params=params))
    frames: list[pl.DataFrame] = []
    rows = 0
    try:
        async for batch in reader.batches(_READ_ROWS):
            frames.append(batch.drop(LOCATION_COLUMNS, strict=False))
            rows += batch.height
            _check_size(frames[-1], index, rows)
        schema = await reader.schema()
    finally:
        await reader.aclose()
    if not frames:
        return pl.DataFrame(schema=schema)
    return await asyncio.to_thread(pl.concat, frames, how="diagonal_relaxed")


def _check_size(frame: pl.DataFrame, index: int, rows: int | None = None) -> None:
    if (rows if rows is not None else frame.height) > MAX_JOIN_ROWS:
        raise TransformFailed(
            f"steps[{index}] (join): the other side has over {MAX_JOIN_ROWS:,} rows, too many "
            "to hold in memory; load it into the warehouse and join in a query instead",
            path=["steps", str(index), "join"],
        )
