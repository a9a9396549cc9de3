"""The step kinds a pipeline spec may use, by the key that names them."""

from __future__ import annotations

from app.etl.step_base import (
    EXPRESSION_INVALID,
    StepContext,
    StepModel,
    StepProblem,
    first_line,
    parse_expression,
)
from app.etl.steps_row import (
    CastStep,
    DeriveStep,
    FillNullStep,
    FilterStep,
    FlattenStep,
    RenameStep,
    SelectStep,
)
from app.etl.steps_table import AggregateStep, DedupeStep, JoinStep, LimitStep, SortStep

__all__ = [
    "EXPRESSION_INVALID",
    "STEP_KINDS",
    "AggregateStep",
    "CastStep",
    "DedupeStep",
    "DeriveStep",
    "FillNullStep",
    "FilterStep",
    "FlattenStep",
    "JoinStep",
    "LimitStep",
    "RenameStep",
    "SelectStep",
    "SortStep",
    "Step",
    "StepContext",
    "StepProblem",
    "first_line",
    "parse_expression",
    "step_kind",
]

Step = (
    AggregateStep
    | CastStep
    | DedupeStep
    | DeriveStep
    | FillNullStep
    | FilterStep
    | FlattenStep
    | JoinStep
    | LimitStep
    | RenameStep
    | SelectStep
    | SortStep
)

STEP_KINDS: dict[str, type[StepModel]] = {
    model.kind: model
    for model in (
        AggregateStep,
        CastStep,
        DedupeStep,
        DeriveStep,
        FillNullStep,
        FilterStep,
        FlattenStep,
        JoinStep,
        LimitStep,
        RenameStep,
        SelectStep,
        SortStep,
    )
}


def step_kind(step: StepModel) -> str:
    return step.kind
