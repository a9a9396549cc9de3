"""The per-request (or per-WebSocket) context: settings, the caller, DataLoaders."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
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
from app.services.auth import CALLER_FRESH_SECONDS, Caller, bearer_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
    from contextlib import AbstractAsyncContextManager

    from sqlmodel.ext.asyncio.session import AsyncSession
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from app.config import Settings
    from app.models.base import Record
    from app.models.run import Run
    from app.models.user import Role
    from app.ratelimit import LoginLimiter
    from app.runner import Enqueue


MAX_SUBSCRIPTIONS_PER_CONNECTION = 20

# An open socket verifies its credential again this often, trusting a caller verified at
# most SOCKET_TRUST_SECONDS ago: so a change made on any replica reaches every socket
# within CALLER_FRESH_SECONDS, the bound HTTP callers get (app/services/auth.py).
SOCKET_CHECK_SECONDS = 0.5
SOCKET_TRUST_SECONDS = CALLER_FRESH_SECONDS - SOCKET_CHECK_SECONDS

# How a socket ends when its credential no longer holds: the credential ended (disabled
# account, revoked key or token, expiry), or it grants less than a running operation needs.
CLOSE_CREDENTIAL_ENDED = 4401
CLOSE_ROLE_TOO_SMALL = 4403
_MAX_CLOSE_REASON_BYTES = 123  # a WebSocket close frame's limit

# The socket operation the running task serves (set in that operation's own task).
_operation: ContextVar[str | None] = ContextVar("dataflow_ws_operation", default=None)


async def authenticate(settings: Settings, header: object) -> Caller | None:
    """The caller the credentials name; None when there are none; bad ones raise."""
    token = bearer_token(header)
    return None if token is None else await _caller(settings, token, session_scope)


async def _caller_reading(
    settings: Settings, token: str, max_age: float = CALLER_FRESH_SECONDS
) -> Caller:
    """As `authenticate`, on a read session: an access token only reads its holder (an
    API key records its last use, so it takes a writing session of its own)."""
    opens = session_scope if api_key_service.is_api_key(token) else read_scope
    return await _caller(settings, token, opens, max_age)


async def _caller(
    settings: Settings,
    token: str,
    opens: Callable[[Settings], AbstractAsyncContextManager[AsyncSession]],
    max_age: float = CALLER_FRESH_SECONDS,
) -> Caller:
    # A caller verified moments ago needs no session at all: opening one costs more
    # than the rest of a small query.
    known = auth_service.remembered_caller(settings=settings, token=token, max_age=max_age)
    if known is not None:
        return known
    async with opens(settings) as session:
        return await auth_service.authenticate(
            session=session, settings=settings, token=token, max_age=max_age
        )


# Sockets' lookups in flight, by event loop and credential: the sockets holding one
# credential (a dashboard's hundreds of tabs) re-verify it with one lookup, not one each.
_lookups: dict[tuple[int, str, str], asyncio.Future[Caller]] = {}


async def _verify_socket_credential(settings: Settings, token: str) -> Caller:
    known = auth_service.remembered_caller(
        settings=settings, token=token, max_age=SOCKET_TRUST_SECONDS
    )
    if known is not None:
        return known
    key = (id(asyncio.get_running_loop()), settings.signing_key(), token)
    pending = _lookups.get(key)
    if pending is None:
        pending = asyncio.ensure_future(_caller_reading(settings, token, SOCKET_TRUST_SECONDS))
        _lookups[key] = pending
        pending.add_done_callback(lambda done: _lookup_done(key, done))
    # Shielded: one socket closing must not cancel the lookup the others wait for.
    return await asyncio.shield(pending)


def _lookup_done(key: tuple[int, str, str], done: asyncio.Future[Caller]) -> None:
    if _lookups.get(key) is done:
        del _lookups[key]
    if not done.cancelled():
        done.exception()  # retrieved here too, in case every waiter has gone


def socket_verdict(
    caller: Caller | None, error: Unauthenticated | None, needs: Iterable[Role]
) -> int | None:
    """How a socket whose credential was just verified again must close, or None: its
    credential ended, or no longer grants a role a running operation needed."""
    if error is not None:
        return CLOSE_CREDENTIAL_ENDED
    if caller is not None and not all(caller.role.allows(need) for need in needs):
        return CLOSE_ROLE_TOO_SMALL
    return None


def _close_reason(text: str) -> str:
    encoded = text.encode()[:_MAX_CLOSE_REASON_BYTES]
    return encoded.decode(errors="ignore")


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
    enqueue: Enqueue  # hands a run to a worker (the serving process's broker)
    request: Request | WebSocket
    response: Response | WebSocket | None
    connection_params: dict[str, Any] | None = None
    _caller: Caller | None = None
    _auth_error: Unauthenticated | None = None
    _resolved: bool = False
    _token: str | None = None  # the credential the caller was resolved from
    user_id_seen: str | None = None  # whose it was, kept for logs after it ended
    loaders: dict[str, DataLoader[str, Any]] = field(default_factory=dict)
    # Over WebSocket one context serves the whole connection: this counts its streams.
    active_subscriptions: int = 0
    # ... and the role each of its running operations needed, to check it still holds.
    operation_needs: dict[str, Role] = field(default_factory=dict)

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
                self._token = bearer_token(header)
                if self._token is not None:
                    self._caller = await _caller_reading(self.settings, self._token)
                    self.user_id_seen = self._caller.user.id
            except Unauthenticated as error:
                self._auth_error = error
            self._resolved = True
        if self._auth_error is not None:
            raise self._auth_error
        return self._caller

    @property
    def holds_credential(self) -> bool:
        """Whether the caller was resolved from a credential that holds so far."""
        return self._token is not None and self._auth_error is None

    async def verify_again(self) -> int | None:
        """Over a socket: verify its credential again and keep what it grants now (a
        smaller role, a new analytics scope), so every operation from here on sees the
        account as it is. The close code the socket must end with, or None."""
        if self._token is None or self._auth_error is not None:
            return socket_verdict(self._caller, self._auth_error, ())
        try:
            self._caller = await _verify_socket_credential(self.settings, self._token)
        except Unauthenticated as error:
            self._caller, self._auth_error = None, error
        return socket_verdict(self._caller, self._auth_error, self.operation_needs.values())

    def close_reason(self, code: int) -> str:
        if code == CLOSE_CREDENTIAL_ENDED and self._auth_error is not None:
            return _close_reason(self._auth_error.message)
        held = self._caller.role.value if self._caller is not None else "no"
        return _close_reason(f"the credential now grants {held} role, too little for a stream")

    def begin_operation(self, operation_id: str) -> None:
        """Called in a socket operation's own task: its role checks are noted for it."""
        _operation.set(operation_id)

    def end_operation(self, operation_id: str) -> None:
        self.operation_needs.pop(operation_id, None)

    def note_required(self, role: Role) -> None:
        """A role check passed: over a socket, the running operation keeps needing it."""
        operation = _operation.get()
        if operation is None or self.connection_params is None:
            return
        held = self.operation_needs.get(operation)
        if held is None or role.rank > held.rank:
            self.operation_needs[operation] = role

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
