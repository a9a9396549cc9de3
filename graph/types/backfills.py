"""Backfills, followed as a whole."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry.types import Info

from app.models.backfill import BackfillStep as BackfillStep  # re-exported for the schema
from app.models.run import RunStatus
from app.services import backfills as backfill_service
from graph.context import Context

if TYPE_CHECKING:
    from app.models.backfill import Backfill as BackfillModel

strawberry.enum(BackfillStep)  # registers the model's enum in place


@strawberry.type
class BackfillProgress:
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelling: int
    cancelled: int

    @strawberry.field(description="Every run has ended.")
    def done(self) -> bool:
        return self.queued + self.running + self.cancelling == 0


@strawberry.type
class Backfill:
    id: strawberry.ID
    pipeline_id: strawberry.ID
    start: datetime = strawberry.field(name="from")
    end: datetime = strawberry.field(name="to")
    step: BackfillStep
    partitions: int
    created_at: datetime
    cancelled_at: datetime | None

    @strawberry.field(description="How many of its runs are in each status.")
    async def progress(self, info: Info[Context, None]) -> BackfillProgress:
        async with info.context.reads() as session:
            counts = await backfill_service.progress(session=session, backfill_id=self.id)
        return BackfillProgress(
            total=sum(counts.values()),
            queued=counts[RunStatus.QUEUED],
            running=counts[RunStatus.RUNNING],
            succeeded=counts[RunStatus.SUCCEEDED],
            failed=counts[RunStatus.FAILED],
            cancelling=counts[RunStatus.CANCELLING],
            cancelled=counts[RunStatus.CANCELLED],
        )

    @classmethod
    def from_model(cls, backfill: BackfillModel) -> Backfill:
        return cls(
            id=strawberry.ID(backfill.id),
            pipeline_id=strawberry.ID(backfill.pipeline_id),
            start=backfill.start,
            end=backfill.end,
            step=backfill.step,
            partitions=backfill.partitions,
            created_at=backfill.created_at,
            cancelled_at=backfill.cancelled_at,
        )
