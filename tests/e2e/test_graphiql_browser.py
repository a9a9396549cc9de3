"""GraphiQL in a real browser with every request outside the app refused: the editor
renders, a query is answered with the token from the Headers pane, and so is a
subscription (graphql-transport-ws, the headers as the connection_init payload).

Drives Debian's chromium (`apt-get install chromium`) through the `playwright` package;
Playwright's own browser builds are never used. Without chromium the tests skip, or fail
with DATAFLOW_REQUIRE_SERVICES=1."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

import pytest

from app.models.user import Role
from tests import factories, services
from tests.e2e import flows
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from playwright.async_api import Browser, Page, Route

    from app.config import Settings

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces with the request filter below: no name but localhost resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
WAIT_MS = 30_000  # a generous bound on the page rendering and on an answer


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "chromium is not installed (apt-get install -y chromium)"
        if services.services_required():
            pytest.fail(f"{reason} and DATAFLOW_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


class OfflinePage:
    """A page that may reach the app and nothing else; it records what it tried."""

    def __init__(self, page: Page, server: str) -> None:
        self.page = page
        self.origin = server
        self.refused: list[str] = []
        self.sockets: list[str] = []
        self.errors: list[str] = []
        page.on("websocket", lambda socket: self.sockets.append(socket.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )

    async def block_the_internet(self) -> None:
        await self.page.route("**/*", self._route)

    async def _route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(f"{self.origin}/") or url.startswith("data:"):
            await route.continue_()
        else:
            self.refused.append(url)
            await route.abort()

    async def run(self, query: str, headers: dict[str, str]) -> None:
        """Open GraphiQL with the query and headers (as its URL shares them) and press
        run."""
        # %20, not +: the page decodes its parameters with decodeURIComponent.
        params = urlencode({"q": query, "headers": json.dumps(headers)}, quote_via=quote)
        await self.page.goto(f"{self.origin}/graphql?{params}")
        await self.page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=WAIT_MS)
        await self.page.click(".graphiql-execute-button", timeout=WAIT_MS)

    async def shown_when(self, text: str) -> str:
        """The result pane's text once it shows `text`; fails with what it shows if it
        never does."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        pane = self.page.locator(".graphiql-response .CodeMirror-code")
        try:
            await pane.filter(has_text=text).wait_for(timeout=WAIT_MS)
        except PlaywrightTimeout:
            pytest.fail(f"GraphiQL never showed {text!r}; it shows: {await pane.all_inner_texts()}")
        return await pane.inner_text()

    def assert_stayed_home(self) -> None:
        assert self.refused == [], f"the page asked outside the app: {self.refused}"
        host = urlsplit(self.origin).netloc
        assert all(urlsplit(url).netloc == host for url in self.sockets), self.sockets
        assert self.errors == [], self.errors


async def test_graphiql_renders_offline_and_answers_with_the_headers_pane_token(
    browser: Browser, server: str, embedded_settings: Settings
) -> None:
    user, token = await factories.make_user(embedded_settings, Role.VIEWER)
    page = OfflinePage(await browser.new_page(), server)
    await page.block_the_internet()
    await page.run("{ me { email role } }", {"Authorization": f"Bearer {token}"})
    shown = await page.shown_when(user.email)
    assert "VIEWER" in shown
    page.assert_stayed_home()


async def test_a_subscription_from_graphiql_sends_the_token_in_connection_init(
    browser: Browser, server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    _, operator_token = await factories.make_user(embedded_settings, Role.OPERATOR)
    _, token = await factories.make_user(embedded_settings, Role.VIEWER)
    operator = GraphQLClient(server, operator_token)
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(10))
    pipeline = await flows.define_pipeline(
        operator, csv_path, factories.orders_spec("graphiql_run"), "graphiql_run"
    )
    run_id = await flows.trigger(operator, pipeline)
    await flows.wait_for_end(operator, run_id)

    page = OfflinePage(await browser.new_page(), server)
    await page.block_the_internet()
    subscription = f'subscription {{ runEvents(runId: "{run_id}") {{ id kind }} }}'
    # The lowercase spelling, as a hand-typed Headers pane may have it.
    await page.run(subscription, {"authorization": f"Bearer {token}"})
    shown = await page.shown_when("run_finished")
    assert "UNAUTHENTICATED" not in shown
    assert page.sockets, "the subscription did not go over a WebSocket"
    page.assert_stayed_home()
