"""Login throttles that hold under concurrency: an attempt takes its place in every budget
before its password is checked, so concurrent guesses get no more checks than sequential
ones; a guesser at one address spends their own budget, not the owner's."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from app.models.user import Role
from app.ratelimit import (
    Counter,
    LoginLimiter,
    MemoryCounter,
    Policy,
    RateLimited,
    RedisCounter,
)
from tests import factories
from tests.e2e import operations as ops
from tests.live import live_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from app.config import Settings

GUESSES = 15
BUDGET = Policy().per_account_address
PASSWORD = "s3cret-pass"  # tests.factories.make_user's


@pytest.fixture(params=["embedded", "services"])
def settings(request: pytest.FixtureRequest) -> Settings:
    """The embedded form (counters in the process) and the services form (in Redis)."""
    name = "embedded_settings" if request.param == "embedded" else "service_settings"
    value: Settings = request.getfixturevalue(name)
    return value


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


async def login(server: str, email: str, password: str, address: str) -> dict[str, Any]:
    """The login payload, asked over its own connection from the local `address`."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=server, transport=transport, timeout=60) as client:
        response = await client.post(
            "/graphql",
            json={"query": ops.LOGIN, "variables": {"email": email, "password": password}},
        )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["login"]
    return payload


async def test_concurrent_wrong_logins_are_checked_at_most_the_budget(
    server: str, settings: Settings
) -> None:
    user, _ = await factories.make_user(settings, Role.VIEWER)
    answers = await asyncio.gather(
        *(login(server, user.email, "wrong-one", "127.0.0.1") for _ in range(GUESSES))
    )
    codes = sorted(answer["errors"][0]["code"] for answer in answers)
    assert codes == ["RATE_LIMITED"] * (GUESSES - BUDGET) + ["UNAUTHENTICATED"] * BUDGET
    assert all(answer["token"] is None for answer in answers)
    refusal = next(a["errors"][0] for a in answers if a["errors"][0]["code"] == "RATE_LIMITED")
    assert "this address" in refusal["message"], refusal
    # The owner, elsewhere, is not locked out by the guesser's spent budget.
    owner = await login(server, user.email, PASSWORD, "127.0.0.2")
    assert owner["errors"] == [], owner
    assert owner["token"], owner


@pytest.fixture(params=["memory", "redis"])
async def counter(request: pytest.FixtureRequest) -> AsyncIterator[Counter]:
    made: Counter
    if request.param == "redis":
        made = RedisCounter(request.getfixturevalue("redis_url"))
    else:
        made = MemoryCounter()
    yield made
    await made.close()


SMALL = Policy(per_account_address=2, per_address=100, per_account=5)


async def outcome(limiter: LoginLimiter, address: str) -> str:
    try:
        await limiter.attempt(email="Owner@Example.com", address=address)
    except RateLimited as error:
        return error.message.split(";")[0]
    return "counted"


async def test_a_guesser_at_one_address_spends_only_their_own_budget(counter: Counter) -> None:
    limiter = LoginLimiter(counter, SMALL)
    guesses = await asyncio.gather(*(outcome(limiter, "10.0.0.1") for _ in range(10)))
    assert guesses.count("counted") == SMALL.per_account_address
    assert set(guesses) == {"counted", "too many failed logins for this account from this address"}
    # The account's global budget lost only the guesser's two: three more are left.
    others = [await outcome(limiter, f"10.0.1.{n}") for n in range(5)]
    assert others == ["counted"] * 3 + ["too many failed logins for this account"] * 2


async def test_a_login_that_succeeds_gives_its_place_back(counter: Counter) -> None:
    limiter = LoginLimiter(counter, SMALL)
    for _ in range(10):
        await limiter.succeeded(await limiter.attempt(email="owner@example.com", address="a"))
    assert await outcome(limiter, "a") == "counted"  # e-mail case does not matter either
    assert await outcome(limiter, "a") == "counted"
    assert await outcome(limiter, "a") != "counted"
