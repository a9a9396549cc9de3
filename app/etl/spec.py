"""The pipeline spec: parsing the API's JSON and checking it against a source schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from app.errors import ExpressionInvalid, SpecInvalid, UnknownStep
from app.etl.names import TABLE_NAME_RULE, is_table_name
from app.etl.steps import (
    EXPRESSION_INVALID,
    STEP_KINDS,
    DeriveStep,
    FilterStep,
    Step,
    first_line,
    step_kind,
)
from app.etl.transform import compile_step

__all__ = [
    "DeriveStep",
    "Destination",
    "FilterStep",
    "PipelineSpec",
    "Step",
    "parse_spec",
    "validate_against_schema",
]

_M = TypeVar("_M", bound=BaseModel)


class Destination(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    mode: Literal["append", "replace"] = "append"

    @field_validator("table")
    @classmethod
    def _whitelisted(cls, value: str) -> str:
        if not is_table_name(value):
            raise PydanticCustomError(
                "table_name",
                "'{table}' is not a valid table name: {rule}",
                {"table": value, "rule": TABLE_NAME_RULE},
            )
        return value


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[Step] = Field(default_factory=list)
    destination: Destination


def parse_spec(raw: Mapping[str, Any]) -> PipelineSpec:
    """Validate the spec the API received; every error carries a path into it."""
    if not isinstance(raw, Mapping):
        raise SpecInvalid("the pipeline spec must be an object", path=[])
    steps = raw.get("steps", [])
    if not isinstance(steps, list):
        raise SpecInvalid("steps: must be a list of steps", path=["steps"])
    parsed = [_parse_step(item, index) for index, item in enumerate(steps)]
    return _validate(PipelineSpec, {**raw, "steps": parsed}, prefix=[])


def _parse_step(item: object, index: int) -> Step:
    path = ["steps", str(index)]
    if not isinstance(item, Mapping) or len(item) != 1:
        raise SpecInvalid(
            f"steps[{index}]: must be an object with exactly one key, the step kind "
            f"({_known_kinds()})",
            path=path,
        )
    kind = str(next(iter(item)))
    model = STEP_KINDS.get(kind)
    if model is None:
        raise UnknownStep(
            f"steps[{index}]: unknown step kind {kind!r}; known kinds: {_known_kinds()}",
            path=[*path, kind],
            details={"kind": kind, "known": sorted(STEP_KINDS)},
        )
    return _validate(model, item, prefix=path)


def _known_kinds() -> str:
    return ", ".join(sorted(STEP_KINDS))


def _validate(model: type[_M], data: Mapping[str, Any], *, prefix: list[str]) -> _M:
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        raise _spec_error(error, prefix) from None


_FRIENDLY = {"missing": "is required", "extra_forbidden": "is not a known field"}


def _spec_error(error: ValidationError, prefix: list[str]) -> SpecInvalid:
    """The first pydantic error as a typed DataFlow error with a path into the spec."""
    first = error.errors()[0]
    path = [*prefix, *(str(part) for part in first["loc"])]
    context = first.get("ctx") or {}
    if "column" in context:
        path.append(str(context["column"]))
    message = f"{describe_path(path)}: {_FRIENDLY.get(first['type'], first['msg'])}"
    if first["type"] == EXPRESSION_INVALID:
        return ExpressionInvalid(message, path=path, details=dict(context))
    return SpecInvalid(message, path=path)


def describe_path(path: list[str]) -> str:
    """`["steps", "1", "filter"]` -> `steps[1].filter`, the spec's own shape."""
    text = ""
    for part in path:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "spec"


def validate_against_schema(spec: PipelineSpec, schema: pl.Schema) -> None:
    """Fail before any data moves when a step does not fit the source's columns.

    The plan is built on an empty frame with the source schema, one step at a time, so
    the error names the step (and, for a derive, the column) that does not fit.
    """
    frame = pl.LazyFrame(schema=schema)
    for index, step in enumerate(spec.steps):
        _check_step(frame, step, index)
        frame = compile_step(step)(frame)


def _check_step(frame: pl.LazyFrame, step: Step, index: int) -> None:
    available = frame.collect_schema()
    kind = step_kind(step)
    for column, expression in step.expressions():
        path = ["steps", str(index), kind, *([column] if column else [])]
        missing = [name for name in expression.meta.root_names() if name not in available]
        if missing:
            raise ExpressionInvalid(
                f"{describe_path(path)}: column `{missing[0]}` not found; "
                f"available columns: {', '.join(available.names())}",
                path=path,
                details={"column": missing[0]},
            )
        try:
            applied = frame.filter(expression) if column is None else frame.select(expression)
            applied.collect_schema()
        except pl.exceptions.PolarsError as error:
            raise ExpressionInvalid(
                f"{describe_path(path)}: {first_line(error)}", path=path
            ) from None
