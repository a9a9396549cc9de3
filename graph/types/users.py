"""Users, roles and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry.scalars import JSON

from app.models.user import Role as Role  # re-exported for the schema

if TYPE_CHECKING:
    from app.models.api_key import ApiKey as ApiKeyModel
    from app.models.user import User as UserModel

# Registers the model's enum with Strawberry in place (its values are the names).
strawberry.enum(Role, description="viewer < operator < admin")


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    role: Role
    is_active: bool
    created_at: datetime
    analytics_scope: JSON | None = strawberry.field(
        description="The rows of every dataset this user may see, e.g. "
        '{"country": ["DE", "FR"]}: forced into each analytics query. Null: no limit.'
    )

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(
            id=strawberry.ID(user.id),
            email=user.email,
            role=user.role,
            is_active=user.is_active,
            created_at=user.created_at,
            analytics_scope=JSON(user.analytics_scope) if user.analytics_scope else None,
        )


@strawberry.type
class ApiKey:
    id: strawberry.ID
    name: str
    prefix: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    analytics_scope: JSON | None = strawberry.field(
        description="Narrows the owner's analytics scope for requests made with this key."
    )

    @classmethod
    def from_model(cls, key: ApiKeyModel) -> ApiKey:
        return cls(
            id=strawberry.ID(key.id),
            name=key.name,
            prefix=key.prefix,
            role=key.role,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            analytics_scope=JSON(key.analytics_scope) if key.analytics_scope else None,
        )
