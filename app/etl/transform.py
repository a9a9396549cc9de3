"""Compile a spec's steps to one Polars LazyFrame plan, and run it on a batch.

Row-wise steps (filter, derive, select, rename, cast, fill_null, flatten, join with its
small side held in memory) give the same rows whether a batch or the whole input goes
through them, so they run per batch as the input streams. Dedupe, aggregate, sort and
limit need the whole input: from the first of them on, the steps form a blocking stage
the engine runs once over everything the streaming stage produced (see `blocking.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import reduce
from typing import TYPE_CHECKING

import polars as pl

from app.errors import TransformFailed
from app.etl.step_base import StepContext, StepProblem, first_line

if TYPE_CHECKING:
    from app.etl.steps import Step

Transform = Callable[[pl.LazyFrame], pl.LazyFrame]

_NO_CONTEXT = StepContext()


def compile_step(step: Step, context: StepContext = _NO_CONTEXT) -> Transform:
    """One step as a LazyFrame -> LazyFrame function (no I/O, nothing collected)."""
    return lambda frame: step.apply(frame, context)


def compile_steps(steps: Sequence[Step], context: StepContext = _NO_CONTEXT) -> Transform:
    """All steps, in order, as one LazyFrame -> LazyFrame function."""
    compiled = [compile_step(step, context) for step in steps]
    return lambda frame: reduce(lambda acc, apply: apply(acc), compiled, frame)


def split_stages(steps: Sequence[Step]) -> tuple[list[Step], list[Step]]:
    """(the streaming steps, the blocking stage from the first whole-dataset step on)."""
    for index, step in enumerate(steps):
        if step.blocking:
            return list(steps[:index]), list(steps[index:])
    return list(steps), []


def run_transform(
    steps: Sequence[Step],
    batch: pl.DataFrame,
    compiled: Transform | None = None,
    context: StepContext = _NO_CONTEXT,
    offset: int = 0,
) -> pl.DataFrame:
    """Collect the compiled plan on one batch; a failure names the step behind it
    (`offset`: the index of the first of `steps` in the spec)."""
    plan = compiled or compile_steps(steps, context)
    try:
        return plan(batch.lazy()).collect()
    except (pl.exceptions.PolarsError, StepProblem) as error:
        raise failure(steps, batch.lazy(), error, context, offset) from error


def failure(
    steps: Sequence[Step],
    frame: pl.LazyFrame,
    error: Exception,
    context: StepContext = _NO_CONTEXT,
    offset: int = 0,
) -> TransformFailed:
    """Replay the steps one at a time on the failing input to find the one that breaks.

    Runs only on the error path; the fused plan cannot say which step failed. `offset`
    is the index of the first of `steps` in the spec.
    """
    for index, step in enumerate(steps, start=offset):
        try:
            frame = step.apply(frame, context).collect().lazy()
        except (pl.exceptions.PolarsError, StepProblem) as step_error:
            reason = step_error.message if isinstance(step_error, StepProblem) else step_error
            reason_text = reason if isinstance(reason, str) else first_line(reason)
            return TransformFailed(
                f"steps[{index}] ({step.kind}): {reason_text}",
                path=["steps", str(index), step.kind],
            )
    return TransformFailed(f"transform failed: {first_line(error)}", path=["steps"])
