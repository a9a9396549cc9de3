"""What travels with a run through the engine: one frozen object instead of loose arguments.

`RunContext` is one attempt of a run as its caller (the runner, a test, a benchmark)
hands it to `run_pipeline`. `DriveContext` is what the batch drivers (streaming and
blocking) share once the load is open. Dagster passes one execution context down its
plan the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.etl.steps_table import LimitStep
from app.event_types import Event
from app.faults import is_transient

if TYPE_CHECKING:
    import polars as pl

    from app.etl.batches import BatchProcessor
    from app.etl.sources import SourceConfig
    from app.etl.spec import PipelineSpec
    from app.etl.step_base import StepContext
    from app.etl.steps import Step
    from app.etl.warehouse import TableLoad

EventSink = Callable[[Event], Awaitable[None]]
"""Receives each event of the run as the engine makes it, e.g. `Progress(stage=LOAD, ...)`."""

Retryable = Callable[[BaseException], bool]
"""Whether the run gets another attempt after this error (it keeps committed batches)."""


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """One attempt of one run: what it loads, how, and where its events go."""

    run_id: str
    spec: PipelineSpec
    source: SourceConfig
    events: EventSink
    attempt: int = 1
    pipeline_id: str = ""
    """Watermarks are kept per (pipeline, table)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    join_sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    """The registered sources the spec's join steps name, by name."""
    batch_rows: int = 100_000
    backfill: bool = False
    """A backfill neither reads nor moves the incremental watermark."""
    retryable: Retryable = is_transient
    """The runner says no on its last attempt: nothing is kept for a retry that never comes."""


@dataclass(frozen=True)
class StepPlan:
    """The spec's steps cut where streaming ends: `head` runs batch by batch; `tail`
    needs the whole input (dedupe, aggregate, sort...)."""

    head: list[Step]
    tail: list[Step]
    context: StepContext

    @property
    def limit(self) -> int | None:
        """The row cap of a tail that is only a trailing limit (which streams)."""
        only = self.tail[0] if len(self.tail) == 1 else None
        return only.limit if isinstance(only, LimitStep) else None

    @property
    def streams(self) -> bool:
        return not self.tail or self.limit is not None


@dataclass(frozen=True)
class DriveContext:
    """What a batch driver moves a run's batches with, once its load is open."""

    run: RunContext
    load: TableLoad
    processor: BatchProcessor
    plan: StepPlan
    empty: pl.DataFrame
    """A batch with no rows: a source with none still gives the table its columns."""
