"""Starting and steering runs: trigger, cancel, retry."""

from __future__ import annotations

import logging

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.db import session_scope
from app.errors import DataFlowError, Transient
from app.events import publish_changes
from app.services import runs as run_service
from graph.context import Context
from graph.mutations.common import json_object
from graph.permissions import IsOperator
from graph.types import Run, UserError

logger = logging.getLogger(__name__)


class BrokerUnavailable(DataFlowError, Transient):
    code = "BROKER_UNAVAILABLE"


@strawberry.type
class RunPayload:
    run: Run | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def enqueue(context: Context, run_id: str) -> None:
    """Hand the run to a worker; called only after its row is committed. If the broker
    is away the run stays QUEUED, and the reaper sends it once the broker is back."""
    try:
        await context.enqueue(run_id, 0.0)
    except Exception as error:
        logger.exception("could not enqueue run %s", run_id)
        raise BrokerUnavailable(
            f"run {run_id} was recorded but could not be queued; retry it later"
        ) from error


@strawberry.type
class TriggerRunPayload(RunPayload):
    pass


@strawberry.type
class CancelRunPayload(RunPayload):
    pass


@strawberry.type
class RetryRunPayload(RunPayload):
    pass


@strawberry.type
class RunMutations:
    @strawberry.mutation(permission_classes=[IsOperator])
    async def trigger_run(
        self,
        info: Info[Context, None],
        pipeline_id: strawberry.ID,
        idempotency_key: str | None = None,
        params: JSON | None = None,
    ) -> TriggerRunPayload:
        context = info.context
        try:
            async with session_scope(context.settings) as session:
                triggered = await run_service.trigger(
                    session=session,
                    pipeline_id=str(pipeline_id),
                    actor=await context.user(),
                    idempotency_key=idempotency_key,
                    params=json_object(params, "params"),
                )
            if triggered.created:
                await publish_changes(context.settings, triggered.run, triggered.events)
                await enqueue(context, triggered.run.id)
        except DataFlowError as error:
            return TriggerRunPayload(errors=[UserError.from_error(error)])
        return TriggerRunPayload(run=Run.from_model(triggered.run))

    @strawberry.mutation(
        permission_classes=[IsOperator],
        description="A queued run ends at once; a running one stops between batches and "
        "leaves the warehouse as it was.",
    )
    async def cancel_run(
        self, info: Info[Context, None], run_id: strawberry.ID
    ) -> CancelRunPayload:
        settings = info.context.settings
        try:
            async with session_scope(settings) as session:
                changed = await run_service.cancel(session=session, run_id=run_id)
        except DataFlowError as error:
            return CancelRunPayload(errors=[UserError.from_error(error)])
        await publish_changes(settings, changed.run, changed.events)
        return CancelRunPayload(run=Run.from_model(changed.run))

    @strawberry.mutation(
        permission_classes=[IsOperator],
        description="Queue a failed or cancelled run again, as its next attempt.",
    )
    async def retry_run(self, info: Info[Context, None], run_id: strawberry.ID) -> RetryRunPayload:
        settings = info.context.settings
        try:
            async with session_scope(settings) as session:
                changed = await run_service.retry(session=session, run_id=run_id)
            await publish_changes(settings, changed.run, changed.events)
            await enqueue(info.context, changed.run.id)
        except DataFlowError as error:
            return RetryRunPayload(errors=[UserError.from_error(error)])
        return RetryRunPayload(run=Run.from_model(changed.run))
