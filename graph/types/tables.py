"""Rows as clients see them: a table preview, or a source or spec previewed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry
from strawberry.scalars import JSON

from graph.scalars import Long
from graph.types.common import Column

if TYPE_CHECKING:
    from app.services.previews import PreviewResult


@strawberry.type
class Preview:
    columns: list[Column]
    rows: JSON = strawberry.field(description="A list of rows, each a list of values.")
    rows_sampled: int = strawberry.field(description="How many source rows were read.")

    @classmethod
    def from_result(cls, result: PreviewResult) -> Preview:
        return cls(
            columns=[Column(name=name, type=dtype) for name, dtype in result.columns],
            rows=JSON(result.rows),
            rows_sampled=result.rows_sampled,
        )


@strawberry.type
class TablePreview:
    columns: list[Column]
    rows: JSON = strawberry.field(description="A list of rows, each a list of values.")
    row_count: Long
