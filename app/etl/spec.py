"""The pipeline spec: parsing the API's JSON and checking it against a source schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.errors import ExpressionInvalid, SpecInvalid, UnknownStep
from app.etl.contract import Contract
from app.etl.incremental import Incremental
from app.etl.names import TABLE_NAME_RULE, is_table_name
from app.etl.steps import EXPRESSION_INVALID, STEP_KINDS, DeriveStep, FilterStep, Step
from app.etl.validation import describe_path, validate_against_schema
from app.etl.warehouse.naming import RESERVED_PREFIXES

__all__ = [
    "Contract",
    "DeriveStep",
    "Destination",
    "FilterStep",
    "Incremental",
    "PipelineSpec",
    "Step",
    "describe_path",
    "parse_spec",
    "validate_against_schema",
]

_M = TypeVar("_M", bound=BaseModel)


class Destination(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    mode: Literal["append", "replace", "merge", "replace_partition"] = "append"
    keys: list[str] | None = None
    """Merge only: the columns that identify a row."""
    order_by: str | None = None
    """Merge only: among rows of one run with equal keys, the greatest value wins."""
    partition_column: str | None = None
    """replace_partition only: the date or datetime column a run's window applies to."""

    @field_validator("table")
    @classmethod
    def _whitelisted(cls, value: str) -> str:
        if not is_table_name(value):
            raise PydanticCustomError(
                "table_name",
                "'{table}' is not a valid table name: {rule}",
                {"table": value, "rule": TABLE_NAME_RULE},
            )
        if value.startswith(RESERVED_PREFIXES):
            raise PydanticCustomError(
                "table_name",
                "'{table}' starts with a prefix the warehouse keeps for itself",
                {"table": value},
            )
        return value

    @model_validator(mode="after")
    def _merge_fields(self) -> Destination:
        if self.mode == "merge" and not self.keys:
            raise PydanticCustomError(
                "merge_keys", "mode merge needs at least one key", {"field": "keys"}
            )
        if self.mode != "merge" and (self.keys is not None or self.order_by is not None):
            field = "keys" if self.keys is not None else "order_by"
            raise PydanticCustomError(
                "merge_keys", "only mode merge uses {field}", {"field": field}
            )
        if self.mode == "replace_partition" and not self.partition_column:
            raise PydanticCustomError(
                "partition_column",
                "mode replace_partition needs partition_column, the date or datetime column "
                "whose [partition_start, partition_end) window each run replaces",
                {"field": "partition_column"},
            )
        if self.mode != "replace_partition" and self.partition_column is not None:
            raise PydanticCustomError(
                "partition_column",
                "only mode replace_partition uses partition_column",
                {"field": "partition_column"},
            )
        return self


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[Step] = Field(default_factory=list)
    destination: Destination
    contract: Contract | None = None
    incremental: Incremental | None = None
    # Owned and validated elsewhere (analytics, scheduling); carried through as given.
    dataset: dict[str, Any] | None = None
    schedule: str | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _partitions_are_whole(self) -> PipelineSpec:
        if self.destination.mode == "replace_partition" and self.incremental is not None:
            # A run replaces its whole window: filtering it by a watermark would delete
            # the rows the filter skipped.
            raise PydanticCustomError(
                "incremental",
                "mode replace_partition reloads whole partitions and cannot be incremental; "
                "remove incremental or use mode merge",
                {"field": "incremental"},
            )
        return self


def parse_spec(raw: Mapping[str, Any]) -> PipelineSpec:
    """Validate the spec the API received; every error carries a path into it."""
    if not isinstance(raw, Mapping):
        raise SpecInvalid("the pipeline spec must be an object", path=[])
    steps = raw.get("steps", [])
    if not isinstance(steps, list):
        raise SpecInvalid("steps: must be a list of steps", path=["steps"])
    parsed = [_parse_step(item, index) for index, item in enumerate(steps)]
    spec = _validate(PipelineSpec, {**raw, "steps": parsed}, prefix=[])
    _check_lookback(spec)
    return spec


def _check_lookback(spec: PipelineSpec) -> None:
    lookback = spec.incremental.lookback if spec.incremental else None
    mode = spec.destination.mode
    if lookback is not None and mode != "merge":
        # The re-read window holds rows already loaded: only merge keys make it safe.
        raise SpecInvalid(
            "incremental.lookback: re-reads rows already loaded, so it needs mode merge with "
            f"keys (the re-read then replaces them); with mode {mode} it would duplicate "
            "them. Use mode merge with keys, or remove lookback",
            path=["incremental", "lookback"],
        )


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
    return _validate(model, item, prefix=path)  # type: ignore[return-value]


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
    # A dict key's own validator reports the key then "[key]"; the key is the path.
    path = [*prefix, *(str(part) for part in first["loc"] if part != "[key]")]
    context = first.get("ctx") or {}
    for key in ("column", "field"):
        if key in context and (not path or path[-1] != str(context[key])):
            path.append(str(context[key]))
    message = f"{describe_path(path)}: {_FRIENDLY.get(first['type'], first['msg'])}"
    if first["type"] == EXPRESSION_INVALID:
        return ExpressionInvalid(message, path=path, details=dict(context))
    return SpecInvalid(message, path=path)
