"""The per-request (or per-WebSocket) context: settings, the caller, DataLoaders."""

from __future__ import annotations

from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from app.db import read_scope, session_scope
from app.errors import Unauthenticated
from app.models.user import User
from app.services import api_keys as api_key_service
from app.services import auth as auth_service
from app.services import catalog_cache
from app.services import runs as run_service
from app.services.auth import Caller, bearer_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, Sequence
    from contextlib import AbstractAsyncContextManager

    from sqlmodel.ext.asyncio.session import AsyncSession
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from app.config import Settings
    from app.models.base import Record
    from app.models.run import Run
    from app.ratelimit import LoginLimiter


MAX_SUBSCRIPTIONS_PER_CONNECTION = 20


async def authenticate(settings: Settings, header: object) -> Caller | None:
    """The caller the credentials name; None when there are none; bad ones raise."""
    token = bearer_token(header)
    return None if token is None else await _caller(settings, token, session_scope)


async def _authenticate_reading(settings: Settings, header: object) -> Caller | None:
    """As `authenticate`, on a read session: an access token only reads its holder (an
    API key records its last use, so it takes a writing session of its own)."""
    token = bearer_token(header)
    if token is None:
        return None
    opens = session_scope if api_key_service.is_api_key(token) else read_scope
    return await _caller(settings, token, opens)


async def _caller(
    settings: Settings,
    token: str,
    opens: Callable[[Settings], AbstractAsyncContextManager[AsyncSession]],
) -> Caller:
    # A caller verified moments ago needs no session at all: opening one costs more
    # than the rest of a small query.
    known = auth_service.remembered_caller(settings=settings, token=token)
    if known is not None:
        return known
    async with opens(settings) as session:
        return await auth_service.authenticate(session=session, settings=settings, token=token)


def connection_header(params: dict[str, Any], name: str) -> object:
    """A header sent in the `connection_init` payload. Names are case-insensitive, as in
    HTTP (clients and GraphiQL's headers pane spell them either way); two spellings with
    different values are refused rather than one picked at random."""
    values = [value for key, value in params.items() if key.lower() == name.lower()]
    if len(values) > 1 and any(value != values[0] for value in values):
        raise Unauthenticated(f"connection_init has {len(values)} different {name} headers")
    return values[0] if values else None


@dataclass
class Context:
    settings: Settings
    request: Request | WebSocket
    response: Response | WebSocket | None
    connection_params: dict[str, Any] | None = None
    _caller: Caller | None = None
    _auth_error: Unauthenticated | None = None
    _resolved: bool = False
    loaders: dict[str, DataLoader[str, Any]] = field(default_factory=dict)
    # Over WebSocket one context serves the whole connection: this counts its streams.
    active_subscriptions: int = 0

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[AsyncSession]:
        """A session for reads (autocommit: every statement sees what is committed, with
        no BEGIN or COMMIT round trip). Its connection goes back to the pool as soon as
        the read is done, so a slow resolver never holds one it does not use."""
        async with read_scope(self.settings) as session:
            yield session

    @contextmanager
    def subscription_slot(self) -> Iterator[None]:
        """Hold one of the connection's subscription slots while a stream runs."""
        if self.active_subscriptions >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            raise GraphQLError(
                f"at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection",
                extensions={"code": "TOO_MANY_SUBSCRIPTIONS"},
            )
        self.active_subscriptions += 1
        try:
            yield
        finally:
            self.active_subscriptions -= 1

    def peek_user_id(self) -> str | None:
        """The caller's id if already resolved (for logs; never triggers a lookup)."""
        return self._caller.user.id if self._caller else None

    async def user(self) -> User | None:
        caller = await self.caller()
        return caller.user if caller else None

    async def caller(self) -> Caller | None:
        """The caller, resolved once; a bad credential is remembered and re-raised."""
        if not self._resolved:
            try:
                header = (
                    connection_header(self.connection_params, "authorization")
                    if self.connection_params is not None
                    else self.request.headers.get("authorization")
                )
                self._caller = await _authenticate_reading(self.settings, header)
            except Unauthenticated as error:
                self._auth_error = error
            self._resolved = True
        if self._auth_error is not None:
            raise self._auth_error
        return self._caller

    def login_limiter(self) -> LoginLimiter:
        limiter: LoginLimiter = self.request.app.state.login_limiter
        return limiter

    def client_address(self) -> str:
        client = self.request.client
        return client.host if client else "unknown"

    def source_loader(self) -> DataLoader[str, Record | None]:
        return self._loader("source", self._load_sources)

    def pipeline_loader(self) -> DataLoader[str, Record | None]:
        return self._loader("pipeline", self._load_pipelines)

    def last_run_loader(self) -> DataLoader[str, Run | None]:
        return self._loader("last_run", self._load_last_runs)

    def _loader(self, name: str, load: Any) -> DataLoader[str, Any]:
        if name not in self.loaders:
            self.loaders[name] = DataLoader(load_fn=load)
        return self.loaders[name]

    async def sources_by_id(self, ids: Sequence[str]) -> list[Record | None]:
        """Sources in the order asked, for a page that knows all its ids at once."""
        return await catalog_cache.sources.get_many(self.reads, ids)

    async def pipelines_by_id(self, ids: Sequence[str]) -> list[Record | None]:
        """Pipelines in the order asked, for a page that knows all its ids at once."""
        return await catalog_cache.pipelines.get_many(self.reads, ids)

    async def _load_sources(self, ids: list[str]) -> list[Record | None]:
        return await self.sources_by_id(ids)

    async def _load_last_runs(self, ids: list[str]) -> list[Run | None]:
        async with self.reads() as session:
            return await run_service.latest_for_pipelines(session=session, pipeline_ids=ids)

    async def _load_pipelines(self, ids: list[str]) -> list[Record | None]:
        return await self.pipelines_by_id(ids)
