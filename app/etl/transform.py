"""Compile a spec's steps to a pure Polars LazyFrame plan, and run it on a batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import reduce
from typing import TYPE_CHECKING

import polars as pl

from app.errors import TransformFailed
from app.etl.steps import FilterStep, first_line, step_kind

if TYPE_CHECKING:
    from app.etl.steps import Step

Transform = Callable[[pl.LazyFrame], pl.LazyFrame]


def compile_step(step: Step) -> Transform:
    """One step as a LazyFrame -> LazyFrame function (no I/O, nothing collected)."""
    if isinstance(step, FilterStep):
        predicate = pl.sql_expr(step.filter)
        return lambda frame: frame.filter(predicate)
    # Derived columns all see the step's input row, like one SQL SELECT list.
    columns = [expression for _, expression in step.expressions()]
    return lambda frame: frame.with_columns(columns)


def compile_steps(steps: Sequence[Step]) -> Transform:
    """All steps, in order, as one LazyFrame -> LazyFrame function."""
    compiled = [compile_step(step) for step in steps]
    return lambda frame: reduce(lambda acc, apply: apply(acc), compiled, frame)


def run_transform(
    steps: Sequence[Step], batch: pl.DataFrame, compiled: Transform | None = None
) -> pl.DataFrame:
    """Collect the compiled plan on one batch; a Polars failure names the step behind it."""
    plan = compiled or compile_steps(steps)
    try:
        return plan(batch.lazy()).collect()
    except pl.exceptions.PolarsError as error:
        raise _failure(steps, batch, error) from error


def _failure(steps: Sequence[Step], batch: pl.DataFrame, error: Exception) -> TransformFailed:
    """Replay the steps one at a time on the failing batch to find the one that breaks.

    Runs only on the error path; the fused plan cannot say which step failed.
    """
    frame = batch.lazy()
    for index, step in enumerate(steps):
        frame = compile_step(step)(frame)
        try:
            frame = frame.collect().lazy()
        except pl.exceptions.PolarsError as step_error:
            return TransformFailed(
                f"steps[{index}] ({step_kind(step)}): {first_line(step_error)}",
                path=["steps", str(index), step_kind(step)],
            )
    return TransformFailed(f"transform failed: {first_line(error)}", path=["steps"])
