"""A TCP proxy to PostgreSQL that reproduces, on demand and every time, a window that
is short and racy in real life: a connection has read the server's FATAL goodbye (a
`pg_terminate_backend`, a restart) but has not yet seen its socket close."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from sqlalchemy import make_url

if TYPE_CHECKING:
    import asyncpg


class SlowToCloseProxy:
    """Passes every byte through at once, but holds a close from the server back for
    `close_delay` seconds."""

    def __init__(self, upstream_port: int, close_delay: float = 3.0) -> None:
        self.upstream_port = upstream_port
        self.close_delay = close_delay
        self._server: asyncio.Server | None = None
        self._upstream_ports: list[int] = []
        self._pipes: list[asyncio.Task[None]] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        """Listen on a free local port, and return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def url_through(self, url: str, port: int) -> str:
        """`url` (a SQLAlchemy or libpq URL) pointed at the proxy's `port`."""
        return make_url(url).set(port=port).render_as_string(hide_password=False)

    async def terminate_backends(self, admin: asyncpg.Connection) -> int:
        """`pg_terminate_backend` every server process connected through this proxy."""
        killed: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE client_port = ANY($1::int[])",
            self._upstream_ports,
        )
        return killed

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._upstream_ports.append(server_w.get_extra_info("sockname")[1])
        self._writers += [client_w, server_w]
        self._pipes += [
            asyncio.create_task(_pipe(client_r, server_w, close_delay=0)),
            asyncio.create_task(_pipe(server_r, client_w, close_delay=self.close_delay)),
        ]


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, close_delay: float
) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    await asyncio.sleep(close_delay)
    writer.close()
