"""Header names in the `connection_init` payload are case-insensitive, as HTTP's are:
`authorization`, `Authorization` and `AUTHORIZATION` all authenticate the socket."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import websockets

from app.models.user import Role
from tests import factories
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.config import Settings

ME = "{ me { email role } }"
SPELLINGS = ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"]


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


@pytest.mark.parametrize("name", SPELLINGS)
async def test_any_spelling_of_authorization_authenticates_the_socket(
    server: str, embedded_settings: Settings, name: str
) -> None:
    user, token = await factories.make_user(embedded_settings, Role.VIEWER)
    messages = await GraphQLClient(server).subscribe(
        ME, init_payload={name: f"Bearer {token}"}, timeout=20
    )
    assert messages == [{"data": {"me": {"email": user.email, "role": "VIEWER"}}}]


@pytest.mark.parametrize("name", SPELLINGS)
async def test_any_spelling_of_a_bad_credential_closes_the_socket(server: str, name: str) -> None:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await GraphQLClient(server).subscribe(
            ME, init_payload={name: "Bearer not-a-token"}, timeout=20
        )
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_two_spellings_that_disagree_are_refused(
    server: str, embedded_settings: Settings
) -> None:
    # Which one counts would be a guess; a client that sends both has a bug to hear of.
    _, token = await factories.make_user(embedded_settings, Role.VIEWER)
    payload = {"Authorization": f"Bearer {token}", "authorization": "Bearer not-a-token"}
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await GraphQLClient(server).subscribe(ME, init_payload=payload, timeout=20)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_no_credential_leaves_the_socket_anonymous(server: str) -> None:
    messages = await GraphQLClient(server).subscribe(ME, init_payload={}, timeout=20)
    assert messages[0]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
