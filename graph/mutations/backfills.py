"""Backfills: one run per partition of a time range; cancelled as a whole."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from app.db import session_scope
from app.errors import DataFlowError, InvalidInput
from app.events import publish_changes
from app.models.backfill import BackfillStep
from app.services import backfills as backfill_service
from graph.context import Context
from graph.mutations.runs import enqueue
from graph.permissions import IsOperator
from graph.types import UserError
from graph.types.backfills import Backfill


@strawberry.input
class BackfillInput:
    pipeline_id: strawberry.ID
    start: datetime = strawberry.field(name="from", description="Inclusive.")
    end: datetime = strawberry.field(name="to", description="Exclusive.")
    step: BackfillStep = BackfillStep.DAY
    allow_unsafe_mode: bool = strawberry.field(
        default=False,
        description=(
            "Backfill a pipeline whose mode is not exact anyway: replace keeps only the "
            "last partition, append duplicates a partition loaded before. Without it such "
            "a backfill is refused with BACKFILL_MODE_UNSAFE; merge and replace_partition "
            "need no flag."
        ),
    )


@strawberry.type
class BackfillPayload:
    backfill: Backfill | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateBackfillPayload(BackfillPayload):
    pass


@strawberry.type
class CancelBackfillPayload(BackfillPayload):
    pass


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(
            f"{name} needs a timezone offset, e.g. 2026-01-01T00:00:00Z", path=[name]
        )
    return moment.astimezone(UTC)


@strawberry.type
class BackfillMutations:
    @strawberry.mutation(
        permission_classes=[IsOperator],
        description="One run per partition of [from, to), each passed its partition as params.",
    )
    async def backfill(
        self, info: Info[Context, None], input: BackfillInput
    ) -> CreateBackfillPayload:
        context = info.context
        try:
            async with session_scope(context.settings) as session:
                created = await backfill_service.create(
                    session=session,
                    pipeline_id=input.pipeline_id,
                    start=_utc(input.start, "from"),
                    end=_utc(input.end, "to"),
                    step=input.step,
                    actor=await context.user(),
                    allow_unsafe_mode=input.allow_unsafe_mode,
                )
            for run in created.runs:
                await publish_changes(context.settings, run, [])
                await enqueue(context, run.id)
        except DataFlowError as error:
            return CreateBackfillPayload(errors=[UserError.from_error(error)])
        return CreateBackfillPayload(backfill=Backfill.from_model(created.backfill))

    @strawberry.mutation(permission_classes=[IsOperator])
    async def cancel_backfill(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> CancelBackfillPayload:
        settings = info.context.settings
        try:
            async with session_scope(settings) as session:
                changed = await backfill_service.cancel(session=session, backfill_id=id)
                backfill = await backfill_service.get(session=session, backfill_id=id)
        except DataFlowError as error:
            return CancelBackfillPayload(errors=[UserError.from_error(error)])
        for item in changed:
            await publish_changes(settings, item.run, item.events)
        return CancelBackfillPayload(backfill=Backfill.from_model(backfill))
