"""Rows as clients see them: a table preview, or a source or spec previewed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import strawberry
from strawberry.scalars import JSON

from graph.scalars import Long
from graph.types.common import Column

if TYPE_CHECKING:
    from app.services.previews import PreviewReject, PreviewResult
    from app.services.row_access import Reject


@strawberry.type
class Preview:
    columns: list[Column]
    rows: JSON = strawberry.field(description="A list of rows, each a list of values.")
    rows_sampled: int = strawberry.field(description="How many source rows were read.")
    rejects: list[RejectedRow] = strawberry.field(
        description="Rows of the sample the contract would quarantine (pipeline previews)."
    )

    @classmethod
    def from_result(cls, result: PreviewResult) -> Preview:
        return cls(
            columns=[Column(name=name, type=dtype) for name, dtype in result.columns],
            rows=JSON(result.rows),
            rows_sampled=result.rows_sampled,
            rejects=[RejectedRow.from_preview(item) for item in result.rejects],
        )


@strawberry.type
class TablePreview:
    columns: list[Column]
    rows: JSON = strawberry.field(description="A list of rows, each a list of values.")
    row_count: Long


@strawberry.type(description="A row a run quarantined: where it came from, why, and the row.")
class RejectedRow:
    batch: int | None = strawberry.field(
        description="The run's batch that read it (null in a preview)."
    )
    source: str | None = strawberry.field(description="The file, URL or page it came from.")
    row_number: Long | None = strawberry.field(
        description="Its line in a CSV or NDJSON file (the header is line 1), else its "
        "1-based position in the file, page or result."
    )
    reason: str
    raw: JSON | None = strawberry.field(description="The row as read: its fields by name.")

    @classmethod
    def from_reject(cls, reject: Reject) -> RejectedRow:
        return cls(
            batch=reject.batch,
            source=reject.source,
            row_number=None if reject.row_number is None else Long(reject.row_number),
            reason=reject.reason,
            raw=_raw(reject.raw),
        )

    @classmethod
    def from_preview(cls, reject: PreviewReject) -> RejectedRow:
        return cls(
            batch=None,
            source=reject.source,
            row_number=None if reject.row_number is None else Long(reject.row_number),
            reason=reject.reason,
            raw=_raw(reject.raw),
        )


def _raw(text: str | None) -> JSON | None:
    return None if text is None else JSON(json.loads(text))
