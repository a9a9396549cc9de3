"""Users, roles and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

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

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(
            id=strawberry.ID(user.id),
            email=user.email,
            role=user.role,
            is_active=user.is_active,
            created_at=user.created_at,
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
        )
