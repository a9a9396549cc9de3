"""Permission classes: who may call a field, by role (viewer < operator < admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from graphql import GraphQLError
from strawberry.permission import BasePermission

from app.errors import Unauthenticated
from app.models.user import Role

if TYPE_CHECKING:
    from strawberry.types import Info

    from app.models.user import User
    from graph.context import Context


def denied(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


async def require_role(context: Context, required: Role) -> User:
    """The caller if their credential grants `required` or more; else an auth error."""
    try:
        caller = await context.caller()
    except Unauthenticated as error:
        raise denied("UNAUTHENTICATED", error.message) from None
    if caller is None:
        raise denied("UNAUTHENTICATED", "authentication required: send a Bearer token")
    if not caller.role.allows(required):
        raise denied(
            "FORBIDDEN", f"this needs the {required.value} role; you have {caller.role.value}"
        )
    context.note_required(required)  # a socket's running stream keeps needing it
    return caller.user


class _RequiresRole(BasePermission):
    # Raised directly from has_permission (not via shared instance state), so concurrent
    # requests cannot see each other's denial reasons.
    required: ClassVar[Role]

    async def has_permission(
        self,
        source: Any,  # noqa: ARG002 (Strawberry's signature)
        info: Info[Context, Any],
        **kwargs: Any,  # noqa: ARG002 (Strawberry's signature)
    ) -> bool:
        await require_role(info.context, self.required)
        return True


class IsViewer(_RequiresRole):
    required = Role.VIEWER


class IsOperator(_RequiresRole):
    required = Role.OPERATOR


class IsAdmin(_RequiresRole):
    required = Role.ADMIN
