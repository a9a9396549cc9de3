"""Logging in, users and API keys."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.analytics.scope import set_api_key_scope, set_user_scope
from app.db import session_scope
from app.errors import DataFlowError, Unauthenticated
from app.models.user import Role, UserCreate
from app.security import create_access_token
from app.services import api_keys as api_key_service
from app.services import users as user_service
from app.validation import parse_model
from graph.context import Context
from graph.mutations.common import errors_as
from graph.permissions import IsAdmin, require_role
from graph.types import ApiKey, User, UserError


@strawberry.type
class LoginPayload:
    token: str | None = None
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateUserInput:
    email: str
    password: str
    role: Role = Role.VIEWER


@strawberry.type
class UserPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateApiKeyInput:
    name: str
    user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Whose key it is; yourself when omitted."
    )
    role: Role | None = strawberry.field(
        default=None, description="At most the owner's role; defaults to it."
    )
    analytics_scope: JSON | None = strawberry.field(
        default=None,
        description='Narrows the owner\'s analytics scope for this key, e.g. {"country": "DE"}.',
    )


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey | None = None
    secret: str | None = strawberry.field(
        default=None, description="The whole key. Shown once: store it now."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateUserPayload(UserPayload):
    pass


@strawberry.type
class SetUserRolePayload(UserPayload):
    pass


@strawberry.type
class SetUserActivePayload(UserPayload):
    pass


@strawberry.type
class RevokeApiKeyPayload(ApiKeyPayload):
    pass


@strawberry.type
class SetUserAnalyticsScopePayload(UserPayload):
    pass


@strawberry.type
class SetApiKeyAnalyticsScopePayload(ApiKeyPayload):
    pass


SCOPE_DESCRIPTION = (
    "Dimension names to the value, or list of values, the caller may see: forced into "
    "every analytics query, and a dataset without such a dimension cannot be read. "
    "Null removes the limit."
)


@strawberry.type
class AuthMutations:
    @strawberry.mutation
    @errors_as(LoginPayload)
    async def login(self, info: Info[Context, None], email: str, password: str) -> LoginPayload:
        context = info.context
        limiter = context.login_limiter()
        # Counted before the password is checked, so concurrent guesses cannot all be
        # checked against a count none of them has added to yet.
        attempt = await limiter.attempt(email=email, address=context.client_address())
        try:
            async with session_scope(context.settings) as session:
                user = await user_service.authenticate(
                    session=session, email=email, password=password
                )
        except Unauthenticated:
            raise  # a wrong password: the attempt counts
        except DataFlowError:
            await limiter.succeeded(attempt)  # not a guess that was checked
            raise
        await limiter.succeeded(attempt)
        token = create_access_token(user_id=user.id, role=user.role, settings=context.settings)
        return LoginPayload(token=token, user=User.from_model(user))

    @strawberry.mutation(permission_classes=[IsAdmin])
    @errors_as(CreateUserPayload)
    async def create_user(
        self,
        info: Info[Context, None],
        input: CreateUserInput,
    ) -> CreateUserPayload:
        data = parse_model(
            UserCreate,
            {"email": input.email, "password": input.password, "role": input.role},
        )
        async with session_scope(info.context.settings) as session:
            user = await user_service.create(session=session, data=data)
        return CreateUserPayload(user=User.from_model(user))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Change a user's role; their existing access tokens stop working.",
    )
    @errors_as(SetUserRolePayload)
    async def set_user_role(
        self, info: Info[Context, None], user_id: strawberry.ID, role: Role
    ) -> SetUserRolePayload:
        async with session_scope(info.context.settings) as session:
            user = await user_service.set_role(session=session, user_id=user_id, role=role)
        return SetUserRolePayload(user=User.from_model(user))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Disable (or re-enable) an account: a disabled one can neither log in "
        "nor use its tokens and API keys. The last active admin cannot be disabled.",
    )
    @errors_as(SetUserActivePayload)
    async def set_user_active(
        self, info: Info[Context, None], user_id: strawberry.ID, active: bool
    ) -> SetUserActivePayload:
        async with session_scope(info.context.settings) as session:
            user = await user_service.set_active(session=session, user_id=user_id, active=active)
        return SetUserActivePayload(user=User.from_model(user))

    @strawberry.mutation(permission_classes=[IsAdmin])
    @errors_as(CreateApiKeyPayload)
    async def create_api_key(
        self,
        info: Info[Context, None],
        input: CreateApiKeyInput,
    ) -> CreateApiKeyPayload:
        admin = await require_role(info.context, Role.ADMIN)
        async with session_scope(info.context.settings) as session:
            owner = (
                await user_service.get(session=session, user_id=input.user_id)
                if input.user_id
                else admin
            )
            issued = await api_key_service.create(
                session=session, owner=owner, name=input.name, role=input.role
            )
            if input.analytics_scope is not None:
                await set_api_key_scope(
                    session=session, key=issued.key, scope=input.analytics_scope
                )
        return CreateApiKeyPayload(api_key=ApiKey.from_model(issued.key), secret=issued.secret)

    @strawberry.mutation(permission_classes=[IsAdmin])
    @errors_as(RevokeApiKeyPayload)
    async def revoke_api_key(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
    ) -> RevokeApiKeyPayload:
        async with session_scope(info.context.settings) as session:
            key = await api_key_service.revoke(session=session, key_id=id)
        return RevokeApiKeyPayload(api_key=ApiKey.from_model(key))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Limit the rows of every dataset a user may see. " + SCOPE_DESCRIPTION,
    )
    @errors_as(SetUserAnalyticsScopePayload)
    async def set_user_analytics_scope(
        self, info: Info[Context, None], user_id: strawberry.ID, scope: JSON | None
    ) -> SetUserAnalyticsScopePayload:
        async with session_scope(info.context.settings) as session:
            user = await user_service.get(session=session, user_id=user_id)
            user = await set_user_scope(session=session, user=user, scope=scope, path=["scope"])
        return SetUserAnalyticsScopePayload(user=User.from_model(user))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Narrow what requests made with one API key may see. " + SCOPE_DESCRIPTION,
    )
    @errors_as(SetApiKeyAnalyticsScopePayload)
    async def set_api_key_analytics_scope(
        self, info: Info[Context, None], id: strawberry.ID, scope: JSON | None
    ) -> SetApiKeyAnalyticsScopePayload:
        async with session_scope(info.context.settings) as session:
            key = await api_key_service.get(session=session, key_id=id)
            key = await set_api_key_scope(session=session, key=key, scope=scope, path=["scope"])
        return SetApiKeyAnalyticsScopePayload(api_key=ApiKey.from_model(key))
