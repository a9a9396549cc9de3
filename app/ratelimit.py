"""Login throttling that holds under concurrency (fixed windows).

Every attempt is counted before its password is checked: one atomic step checks every
budget and, only if all have room, counts the attempt against each. So fifteen
concurrent guesses take fifteen places, and only the budget's worth are ever verified.
A login that succeeds gives its place back.

The budgets: one account from one client address (a guesser's own budget), one account
from every address together (slower: what a guesser spread over many addresses gets),
and one address over every account. A guesser at one address so exhausts their own
budget, not the owner's; to lock the owner out they must spread over many addresses and
then only until the slower window ends.

Redis keeps the counters when REDIS_URL is set (one Lua script per step, so every API
replica sees the same count); otherwise they live in this process (the embedded form is
one process), behind a lock.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import redis.asyncio as aioredis

from app.errors import DataFlowError, Terminal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.config import Settings


class RateLimited(DataFlowError, Terminal):
    code = "RATE_LIMITED"


@dataclass(frozen=True)
class Policy:
    window_seconds: int = 15 * 60
    per_account_address: int = 5  # one account from one address
    per_address: int = 30  # any accounts from one address
    account_window_seconds: int = 60 * 60
    per_account: int = 50  # one account from every address together


@dataclass(frozen=True)
class Budget:
    """One counter's limit: at most `attempts` per window of `window_seconds`."""

    key: str
    attempts: int
    window_seconds: int
    refusal: str  # what a refused login is told


class Counter(Protocol):
    async def reserve(self, budgets: Sequence[Budget]) -> Budget | None:
        """Atomically: when every budget has room, count one attempt against each and
        return None; else count nothing and return the first budget that is spent."""
        ...

    async def release(self, budgets: Sequence[Budget]) -> None:
        """Give back one counted attempt to each budget (a login that succeeded)."""
        ...

    async def close(self) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def _current(self, key: str, now: float) -> tuple[int, float]:
        count, expires = self._counts.get(key, (0, 0.0))
        return (count, expires) if expires > now else (0, 0.0)

    async def reserve(self, budgets: Sequence[Budget]) -> Budget | None:
        now = time.monotonic()
        with self._lock:
            for budget in budgets:
                if self._current(budget.key, now)[0] >= budget.attempts:
                    return budget
            for budget in budgets:
                count, expires = self._current(budget.key, now)
                self._counts[budget.key] = (count + 1, expires or now + budget.window_seconds)
        return None

    async def release(self, budgets: Sequence[Budget]) -> None:
        now = time.monotonic()
        with self._lock:
            for budget in budgets:
                count, expires = self._current(budget.key, now)
                if count > 0:
                    self._counts[budget.key] = (count - 1, expires)

    async def close(self) -> None:
        self._counts.clear()


# KEYS: the counters; ARGV: their budgets, then their windows. Returns the 1-based index
# of the first spent budget, or 0 when the attempt was counted against all of them.
_RESERVE = """
local n = #KEYS
for i = 1, n do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i]) then return i end
end
for i = 1, n do
  redis.call('INCR', KEYS[i])
  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[n + i]) end
end
return 0
"""
# Never below zero, and never a counter without its expiry.
_RELEASE = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""


class RedisCounter:
    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(url)
        self._reserve = self._client.register_script(_RESERVE)
        self._release = self._client.register_script(_RELEASE)

    async def reserve(self, budgets: Sequence[Budget]) -> Budget | None:
        keys = [budget.key for budget in budgets]
        limits = [budget.attempts for budget in budgets]
        windows = [budget.window_seconds for budget in budgets]
        spent = int(await self._reserve(keys=keys, args=[*limits, *windows]))
        return budgets[spent - 1] if spent else None

    async def release(self, budgets: Sequence[Budget]) -> None:
        await self._release(keys=[budget.key for budget in budgets])

    async def close(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True)
class Attempt:
    """A counted login attempt: given back with `LoginLimiter.succeeded`."""

    budgets: tuple[Budget, ...]


def _key(kind: str, *parts: str) -> str:
    # JSON, so that no email and address can spell another pair's key.
    return f"dataflow:login:{kind}:{json.dumps(parts)}"


class LoginLimiter:
    def __init__(self, counter: Counter, policy: Policy | None = None) -> None:
        self.counter = counter
        self.policy = policy or Policy()

    def budgets(self, *, email: str, address: str) -> tuple[Budget, ...]:
        policy, account = self.policy, email.strip().lower()
        short, long = policy.window_seconds // 60, policy.account_window_seconds // 60
        return (
            Budget(
                _key("account-address", account, address),
                policy.per_account_address,
                policy.window_seconds,
                f"too many failed logins for this account from this address; "
                f"try again within {short} minutes",
            ),
            Budget(
                _key("address", address),
                policy.per_address,
                policy.window_seconds,
                f"too many failed logins from this address; try again within {short} minutes",
            ),
            Budget(
                _key("account", account),
                policy.per_account,
                policy.account_window_seconds,
                f"too many failed logins for this account; try again within {long} minutes",
            ),
        )

    async def attempt(self, *, email: str, address: str) -> Attempt:
        """Count a login attempt before its password is checked; `RateLimited` (and
        nothing counted) when a budget is spent."""
        budgets = self.budgets(email=email, address=address)
        spent = await self.counter.reserve(budgets)
        if spent is not None:
            raise RateLimited(spent.refusal)
        return Attempt(budgets)

    async def succeeded(self, attempt: Attempt) -> None:
        """The attempt was no guess (the password was right): its places are free again."""
        await self.counter.release(attempt.budgets)

    async def close(self) -> None:
        await self.counter.close()


def login_limiter(settings: Settings) -> LoginLimiter:
    """One per API process (made on start-up, on its event loop)."""
    if settings.redis_url is None:
        return LoginLimiter(MemoryCounter())
    return LoginLimiter(RedisCounter(settings.redis_url))
