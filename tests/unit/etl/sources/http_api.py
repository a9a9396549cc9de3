"""A scripted JSON API on 127.0.0.1 for the HTTP source tests: real sockets, real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ITEMS: list[dict[str, Any]] = [
    {"id": i, "name": f"item {i}", "updated": f"2026-01-{i:02d}T00:00:00"} for i in range(1, 6)
]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out closed its socket before the late answer: expected.
        del request, client_address


@dataclass(frozen=True)
class Ask:
    """One request as a route sees it: the handler, the query, and the path's call count."""

    request: BaseHTTPRequestHandler
    query: dict[str, list[str]]
    call: int

    def arg(self, name: str, default: str = "0") -> str:
        return self.query.get(name, [default])[0]


class Api:
    """The server, what it was asked, and a counter per path for scripted failures."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.calls: Counter[str] = Counter()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.handle(self)

            def do_POST(self) -> None:
                api.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        self.requests.append((parts.path, query, dict(request.headers.items())))
        self.calls[parts.path] += 1
        route = getattr(self, "route_" + parts.path.strip("/").replace("/", "_"), None)
        if route is None:
            self.send(request, 404, {"error": "no such route"})
        else:
            route(Ask(request, query, self.calls[parts.path]))

    def send(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    # --- routes -----------------------------------------------------------------------

    def route_pages(self, ask: Ask) -> None:
        page, size = int(ask.arg("page")), int(ask.arg("per_page"))
        self.send(ask.request, 200, {"data": {"items": ITEMS[(page - 1) * size : page * size]}})

    def route_offsets(self, ask: Ask) -> None:
        offset, limit = int(ask.arg("offset")), int(ask.arg("limit"))
        self.send(ask.request, 200, ITEMS[offset : offset + limit])

    def route_cursors(self, ask: Ask) -> None:
        start = int(ask.arg("cursor"))
        following = str(start + 2) if start + 2 < len(ITEMS) else None
        body = {"items": ITEMS[start : start + 2], "meta": {"next": following}}
        self.send(ask.request, 200, body)

    def route_linked(self, ask: Ask) -> None:
        start = int(ask.arg("from"))
        headers = {"Link": f'</linked?from={start + 2}>; rel="next"'} if start + 2 < 5 else {}
        self.send(ask.request, 200, ITEMS[start : start + 2], headers)

    def route_body_links(self, ask: Ask) -> None:
        start = int(ask.arg("from"))
        following = f"{self.url}/body_links?from={start + 3}" if start + 3 < 5 else None
        self.send(ask.request, 200, {"results": ITEMS[start : start + 3], "next": following})

    def route_flaky(self, ask: Ask) -> None:
        if ask.call == 1:
            self.send(ask.request, 500, {"error": "boom"})
        else:
            self.send(ask.request, 200, ITEMS[:2])

    def route_limited(self, ask: Ask) -> None:
        if ask.call == 1:
            self.send(ask.request, 429, {"error": "slow down"}, {"Retry-After": "1"})
        else:
            self.send(ask.request, 200, ITEMS[:1])

    def route_limited_long(self, ask: Ask) -> None:
        self.send(ask.request, 429, {"error": "in an hour"}, {"Retry-After": "3600"})

    def route_down(self, ask: Ask) -> None:
        self.send(ask.request, 503, {"error": "maintenance"})

    def route_broken(self, ask: Ask) -> None:
        self.send(ask.request, 200, b'{"items": [{"id": 1}, {"id": ')

    def route_auth(self, ask: Ask) -> None:
        good = ask.request.headers.get("Authorization") == "Bearer s3cret"
        self.send(ask.request, 200 if good else 401, ITEMS[:1] if good else {"error": "no"})

    def route_since(self, ask: Ask) -> None:
        since = ask.arg("updated_since", "")
        self.send(ask.request, 200, [item for item in ITEMS if item["updated"] > since])

    def route_redirect(self, ask: Ask) -> None:
        self.send(ask.request, 302, b"", {"Location": "/offsets?offset=0&limit=50"})

    def route_loop(self, ask: Ask) -> None:
        self.send(ask.request, 200, {"items": ITEMS[:1], "meta": {"next": "same"}})

    def route_typed(self, ask: Ask) -> None:
        pages = {"1": [{"id": 1}, {"id": 2}], "2": [{"id": "abc"}], "3": []}
        self.send(ask.request, 200, pages[ask.arg("page")])

    def route_evolving(self, ask: Ask) -> None:
        pages = {"1": [{"id": 1}], "2": [{"id": 2, "extra": {"note": "x"}}], "3": []}
        self.send(ask.request, 200, pages[ask.arg("page")])

    def route_slow(self, ask: Ask) -> None:
        if ask.call == 1:
            time.sleep(1.5)  # past the client's timeout: the client gives up and retries
        self.send(ask.request, 200, ITEMS[:3])
