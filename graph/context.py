"""The per-request (or per-WebSocket) context: settings, the caller, DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from app.db import session_scope
from app.errors import Unauthenticated
from app.models.user import User
from app.security import decode_access_token
from app.services import pipelines as pipeline_service
from app.services import sources as source_service
from app.services import users as user_service

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from app.config import Settings
    from app.models.pipeline import Pipeline
    from app.models.source import Source


def bearer_token(header: object) -> str | None:
    """The token of an `Authorization: Bearer …` value, or None if there is none."""
    if not isinstance(header, str) or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def authenticate(settings: Settings, header: object) -> User | None:
    """The active user the credentials name; None when there are none; bad ones raise."""
    token = bearer_token(header)
    if token is None:
        return None
    claims = decode_access_token(token, settings=settings)
    async with session_scope(settings) as session:
        user = await session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("the account behind this token is gone or disabled")
    return user


@dataclass
class Context:
    settings: Settings
    request: Request | WebSocket
    response: Response | WebSocket | None
    connection_params: dict[str, Any] | None = None
    _user: User | None = None
    _auth_error: Unauthenticated | None = None
    _resolved: bool = False
    loaders: dict[str, DataLoader[str, Any]] = field(default_factory=dict)

    async def user(self) -> User | None:
        """The caller, resolved once; a bad credential is remembered and re-raised."""
        if not self._resolved:
            header = (
                self.connection_params.get("Authorization")
                if self.connection_params is not None
                else self.request.headers.get("authorization")
            )
            try:
                self._user = await authenticate(self.settings, header)
            except Unauthenticated as error:
                self._auth_error = error
            self._resolved = True
        if self._auth_error is not None:
            raise self._auth_error
        return self._user

    def source_loader(self) -> DataLoader[str, Source | None]:
        return self._loader("source", self._load_sources)

    def pipeline_loader(self) -> DataLoader[str, Pipeline | None]:
        return self._loader("pipeline", self._load_pipelines)

    def _loader(self, name: str, load: Any) -> DataLoader[str, Any]:
        if name not in self.loaders:
            self.loaders[name] = DataLoader(load_fn=load)
        return self.loaders[name]

    async def _load_sources(self, ids: list[str]) -> list[Source | None]:
        async with session_scope(self.settings) as session:
            return await source_service.get_many(session=session, source_ids=ids)

    async def _load_pipelines(self, ids: list[str]) -> list[Pipeline | None]:
        async with session_scope(self.settings) as session:
            return await pipeline_service.get_many(session=session, pipeline_ids=ids)


async def ensure_user_exists(settings: Settings, user_id: str) -> User:
    async with session_scope(settings) as session:
        return await user_service.get(session=session, user_id=user_id)
