"""The Dramatiq broker, chosen by settings: Redis in production, in-memory when embedded.

Imported by every actor module. `configure()` may swap the broker later (the embedded
server, tests); it re-binds every registered actor to the new broker.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

from app.config import Settings, get_settings
from app.logs import configure_logging
from app.observability import init_sentry

if TYPE_CHECKING:
    from dramatiq import Actor, Broker

_state: dict[str, Any] = {}
# Tells apart two workers that share a host and a pid (a restarted container).
_INSTANCE = uuid.uuid4().hex[:8]
_actors: list[Actor[Any, Any]] = []


class JSONLogs(Middleware):
    """A worker process logs the API's JSON lines: Dramatiq set up its own plain format
    (or, under `dataflow worker`, none) before it imported the actors."""

    def after_process_boot(self, broker: Broker) -> None:  # noqa: ARG002 (Dramatiq's hook)
        configure_logging(current_settings().log_level)


def build_broker(settings: Settings) -> Broker:
    broker: Broker
    if settings.redis_url:
        broker = RedisBroker(url=settings.redis_url, namespace="dataflow")  # type: ignore[no-untyped-call]
        # Only worker processes boot a Redis broker's process; the API's stays as it is.
        broker.add_middleware(JSONLogs())
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(AsyncIO())
    return broker


def configure(settings: Settings) -> Broker:
    """Make `settings` the workers' settings and point every actor at a matching broker."""
    broker = build_broker(settings)
    dramatiq.set_broker(broker)
    _state["settings"] = settings
    _state["broker"] = broker
    for actor in _actors:
        actor.broker = broker
        broker.declare_actor(actor)
    return broker


def register(actor: Actor[Any, Any]) -> Actor[Any, Any]:
    """Remember an actor so `configure()` can re-bind it."""
    _actors.append(actor)
    return actor


def current_settings() -> Settings:
    settings = _state.get("settings")
    return settings if isinstance(settings, Settings) else get_settings()


def current_broker() -> Broker:
    broker = _state.get("broker")
    if broker is None:
        # First import: a `dramatiq actors` worker process starts here.
        settings = get_settings()
        init_sentry(settings)
        broker = configure(settings)
    return broker


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_INSTANCE}"


current_broker()
