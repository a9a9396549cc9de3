"""Checking a spec against its source's schema, before any data moves.

The plan is built on empty frames with the source's schema, one step at a time, so an
error names the step (and the column) that does not fit: an unknown column, an
expression that does not type-check, a value that cannot fill a column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from app.errors import ExpressionInvalid, SpecInvalid
from app.etl.contract import contract_schema
from app.etl.incremental import ORDERED_TYPES, is_ordered
from app.etl.sources.reader import LOCATION_COLUMNS, SOURCE_COLUMN
from app.etl.step_base import StepContext, StepProblem, first_line
from app.etl.steps_table import JoinStep

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.etl.spec import PipelineSpec
    from app.etl.steps import Step


def describe_path(path: list[str]) -> str:
    """`["steps", "1", "filter"]` -> `steps[1].filter`, the spec's own shape."""
    text = ""
    for part in path:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "spec"


def validate_against_schema(
    spec: PipelineSpec,
    schema: pl.Schema,
    *,
    join_schemas: Mapping[str, pl.Schema] | None = None,
) -> pl.Schema | None:
    """Raise the first misfit; returns the schema the destination will receive.

    `join_schemas` holds the other side of each join, keyed by `JoinOptions.side`; the
    steps after a join whose side is not given cannot be checked (None is returned).
    """
    source = pl.Schema({k: v for k, v in schema.items() if k not in LOCATION_COLUMNS})
    typed = contract_schema(spec.contract, source)
    _check_contract(spec, typed)
    _check_cursor(spec, typed)
    context = StepContext(
        sides={side: pl.LazyFrame(schema=s) for side, s in (join_schemas or {}).items()}
    )
    output = typed
    for index, step in enumerate(spec.steps):
        # Each step starts from a fresh empty frame with the previous step's schema:
        # resolving a schema walks the whole plan, so growing one plan step by step
        # made checking a spec quadratic in its steps (400 filters took seconds).
        frame = pl.LazyFrame(schema=output)
        _check_step(frame, step, index, context)
        if isinstance(step, JoinStep) and step.join.side not in context.sides:
            return None
        output = step.apply(frame, context).collect_schema()
    _check_destination(spec, output)
    return output


def _unknown_column(path: list[str], column: str, available: pl.Schema) -> ExpressionInvalid:
    return ExpressionInvalid(
        f"{describe_path(path)}: column `{column}` not found; "
        f"available columns: {', '.join(available.names())}",
        path=path,
        details={"column": column},
    )


def _check_contract(spec: PipelineSpec, typed: pl.Schema) -> None:
    if spec.contract is None:
        return
    frame = pl.LazyFrame(schema=typed)
    for index, (text, check) in enumerate(spec.contract.check_expressions()):
        path = ["contract", "checks", str(index)]
        for name in check.meta.root_names():
            if name not in typed:
                raise _unknown_column(path, name, typed)
        try:
            frame.filter(check).collect()
        except pl.exceptions.PolarsError as error:
            raise ExpressionInvalid(
                f"{describe_path(path)}: {text!r} {first_line(error)}", path=path
            ) from None


def _check_cursor(spec: PipelineSpec, typed: pl.Schema) -> None:
    if spec.incremental is None:
        return
    cursor, path = spec.incremental.cursor, ["incremental", "cursor"]
    if cursor == SOURCE_COLUMN:
        return  # file sources by name: readers skip files at or below the watermark
    if cursor not in typed:
        raise SpecInvalid(
            f"incremental.cursor: column `{cursor}` is not in the source; "
            f"available columns: {', '.join(typed.names())}",
            path=path,
        )
    if not is_ordered(typed[cursor]):
        raise SpecInvalid(
            f"incremental.cursor: column `{cursor}` is {typed[cursor]}; a cursor must be "
            f"one of {ORDERED_TYPES} (declare its type in the contract)",
            path=path,
        )
    unfit = spec.incremental.fits(typed[cursor])
    if unfit is not None:
        path = ["incremental", "lookback"]
        raise SpecInvalid(f"incremental.lookback: {unfit}", path=path)


def _check_step(frame: pl.LazyFrame, step: Step, index: int, context: StepContext) -> None:
    available = frame.collect_schema()
    base = ["steps", str(index), step.kind]
    for name in step.columns_used():
        if name not in available:
            raise _unknown_column([*base, name], name, available)
    for column, expression in step.expressions():
        path = [*base, *([column] if column else [])]
        missing = [name for name in expression.meta.root_names() if name not in available]
        if missing:
            raise _unknown_column(path, missing[0], available)
    if isinstance(step, JoinStep) and step.join.side not in context.sides:
        _blame_expression(frame, step, base)
        return
    try:
        step.apply(frame, context).collect()
    except StepProblem as problem:
        path = [*base, *([problem.column] if problem.column else [])]
        raise ExpressionInvalid(f"{describe_path(path)}: {problem.message}", path=path) from None
    except pl.exceptions.PolarsError as error:
        # Planning costs time (with the square of an expression's terms): the step is
        # planned once, and its expressions one by one only to name the one that failed.
        _blame_expression(frame, step, base)
        raise ExpressionInvalid(f"{describe_path(base)}: {first_line(error)}", path=base) from None


def _blame_expression(frame: pl.LazyFrame, step: Step, base: list[str]) -> None:
    """Raise for the first of the step's expressions that does not type-check on its own."""
    for column, expression in step.expressions():
        path = [*base, *([column] if column else [])]
        try:
            applied = frame.filter(expression) if column is None else frame.select(expression)
            applied.collect()
        except pl.exceptions.PolarsError as error:
            raise ExpressionInvalid(
                f"{describe_path(path)}: {first_line(error)}", path=path
            ) from None


def _check_destination(spec: PipelineSpec, output: pl.Schema) -> None:
    destination = spec.destination
    named = [(["destination", "keys", str(i)], key) for i, key in enumerate(destination.keys or [])]
    if destination.order_by:
        named.append((["destination", "order_by"], destination.order_by))
    if destination.partition_column:
        named.append((["destination", "partition_column"], destination.partition_column))
    for path, column in named:
        if column not in output:
            raise SpecInvalid(
                f"{describe_path(path)}: column `{column}` is not in the data the steps "
                f"produce ({', '.join(output.names())})",
                path=path,
            )
    _check_partition_column(spec, output)


def _check_partition_column(spec: PipelineSpec, output: pl.Schema) -> None:
    column = spec.destination.partition_column
    if column is None or column not in output:
        return
    dtype = output[column]
    if not (dtype == pl.Date or isinstance(dtype, pl.Datetime)):
        path = ["destination", "partition_column"]
        raise SpecInvalid(
            f"destination.partition_column: column `{column}` is {dtype}; it must hold dates "
            "or datetimes (declare its type in the contract, or cast it in a step)",
            path=path,
        )
