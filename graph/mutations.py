"""Write-side fields. Each returns a payload: the object, or typed `errors` (DESIGN §8)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from actors.runs import execute_run
from app.db import session_scope
from app.errors import DataFlowError, InvalidInput, Unauthenticated
from app.models.pipeline import PipelineCreate
from app.models.source import SourceCreate
from app.security import create_access_token
from app.services import pipelines as pipeline_service
from app.services import runs as run_service
from app.services import sources as source_service
from app.services import users as user_service
from app.validation import parse_model
from graph.context import Context
from graph.permissions import IsOperator
from graph.types import Pipeline, Run, Source, User, UserError

logger = logging.getLogger(__name__)


@strawberry.input
class CreateSourceInput:
    name: str
    kind: str
    uri: str
    options: JSON | None = None


@strawberry.input
class CreatePipelineInput:
    name: str
    source_id: strawberry.ID
    spec: JSON


@strawberry.type
class CreateSourcePayload:
    source: Source | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreatePipelinePayload:
    pipeline: Pipeline | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TriggerRunPayload:
    run: Run | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LoginPayload:
    token: str | None = None
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


class BrokerUnavailable(DataFlowError):
    code = "BROKER_UNAVAILABLE"


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def login(self, info: Info[Context, None], email: str, password: str) -> LoginPayload:
        settings = info.context.settings
        try:
            async with session_scope(settings) as session:
                user = await user_service.authenticate(
                    session=session, email=email, password=password
                )
        except Unauthenticated as error:
            return LoginPayload(errors=[UserError.from_error(error)])
        token = create_access_token(user_id=user.id, role=user.role, settings=settings)
        return LoginPayload(token=token, user=User.from_model(user))

    @strawberry.mutation(permission_classes=[IsOperator])
    async def create_source(
        self, info: Info[Context, None], input: CreateSourceInput
    ) -> CreateSourcePayload:
        context = info.context
        actor = await context.user()
        try:
            data = parse_model(
                SourceCreate,
                {
                    "name": input.name,
                    "kind": input.kind,
                    "uri": input.uri,
                    "options": input.options or {},
                },
            )
            async with session_scope(context.settings) as session:
                source = await source_service.create(
                    session=session,
                    data=data,
                    actor=actor,
                    allowed_roots=context.settings.allowed_file_roots,
                )
        except DataFlowError as error:
            return CreateSourcePayload(errors=[UserError.from_error(error)])
        return CreateSourcePayload(source=Source.from_model(source))

    @strawberry.mutation(permission_classes=[IsOperator])
    async def create_pipeline(
        self, info: Info[Context, None], input: CreatePipelineInput
    ) -> CreatePipelinePayload:
        context = info.context
        actor = await context.user()
        try:
            data = parse_model(
                PipelineCreate,
                {"name": input.name, "source_id": str(input.source_id), "spec": input.spec},
            )
            async with session_scope(context.settings) as session:
                pipeline = await pipeline_service.create(
                    session=session,
                    data=data,
                    actor=actor,
                    allowed_roots=context.settings.allowed_file_roots,
                )
        except DataFlowError as error:
            return CreatePipelinePayload(errors=[UserError.from_error(error)])
        return CreatePipelinePayload(pipeline=Pipeline.from_model(pipeline))

    @strawberry.mutation(permission_classes=[IsOperator])
    async def trigger_run(
        self,
        info: Info[Context, None],
        pipeline_id: strawberry.ID,
        idempotency_key: str | None = None,
        params: JSON | None = None,
    ) -> TriggerRunPayload:
        context = info.context
        actor = await context.user()
        try:
            async with session_scope(context.settings) as session:
                triggered = await run_service.trigger(
                    session=session,
                    pipeline_id=str(pipeline_id),
                    actor=actor,
                    idempotency_key=idempotency_key,
                    params=_object(params, "params"),
                )
            # Enqueued only after the commit, so the worker always finds the run.
            if triggered.created:
                await _enqueue(triggered.run.id)
        except DataFlowError as error:
            return TriggerRunPayload(errors=[UserError.from_error(error)])
        return TriggerRunPayload(run=Run.from_model(triggered.run))


def _object(value: JSON | None, name: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise InvalidInput(f"{name} must be a JSON object", path=[name])


async def _enqueue(run_id: str) -> None:
    try:
        await asyncio.to_thread(execute_run.send, run_id)
    except Exception as error:
        logger.exception("could not enqueue run %s", run_id)
        raise BrokerUnavailable(
            f"run {run_id} was recorded but could not be queued; retry the trigger later"
        ) from error


__all__ = ["Mutation"]
