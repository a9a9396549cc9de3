"""Login throttling per account and per client address (fixed windows).

Redis keeps the counters when REDIS_URL is set, so every API replica sees the same
count; otherwise they live in this process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import redis.asyncio as aioredis

from app.errors import DataFlowError, Terminal

if TYPE_CHECKING:
    from app.config import Settings


class RateLimited(DataFlowError, Terminal):
    code = "RATE_LIMITED"


@dataclass(frozen=True)
class Policy:
    window_seconds: int = 15 * 60
    per_account: int = 5
    per_address: int = 30


class Counter(Protocol):
    async def count(self, key: str) -> int: ...

    async def increment(self, key: str, window_seconds: int) -> int: ...

    async def close(self) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    async def count(self, key: str) -> int:
        with self._lock:
            count, expires = self._counts.get(key, (0, 0.0))
            return count if expires > time.monotonic() else 0

    async def increment(self, key: str, window_seconds: int) -> int:
        now = time.monotonic()
        with self._lock:
            count, expires = self._counts.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + window_seconds
            self._counts[key] = (count + 1, expires)
            return count + 1

    async def close(self) -> None:
        self._counts.clear()


class RedisCounter:
    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(url)

    async def count(self, key: str) -> int:
        value = await self._client.get(key)
        return int(value or 0)

    async def increment(self, key: str, window_seconds: int) -> int:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def close(self) -> None:
        await self._client.aclose()


class LoginLimiter:
    def __init__(self, counter: Counter, policy: Policy | None = None) -> None:
        self.counter = counter
        self.policy = policy or Policy()

    def _keys(self, email: str, address: str) -> tuple[str, str]:
        return f"dataflow:login:account:{email.lower()}", f"dataflow:login:address:{address}"

    async def check(self, *, email: str, address: str) -> None:
        account, client = self._keys(email, address)
        minutes = self.policy.window_seconds // 60
        if await self.counter.count(account) >= self.policy.per_account:
            raise RateLimited(
                f"too many failed logins for this account; try again within {minutes} minutes"
            )
        if await self.counter.count(client) >= self.policy.per_address:
            raise RateLimited(
                f"too many failed logins from this address; try again within {minutes} minutes"
            )

    async def close(self) -> None:
        await self.counter.close()

    async def record_failure(self, *, email: str, address: str) -> None:
        for key in self._keys(email, address):
            await self.counter.increment(key, self.policy.window_seconds)


def login_limiter(settings: Settings) -> LoginLimiter:
    """One per API process (made on start-up, on its event loop)."""
    if settings.redis_url is None:
        return LoginLimiter(MemoryCounter())
    return LoginLimiter(RedisCounter(settings.redis_url))
