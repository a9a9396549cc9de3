"""A TCP proxy to PostgreSQL that reproduces, on demand and every time, a window that
is short and racy in real life: a connection has read the server's FATAL goodbye (a
`pg_terminate_backend`, a restart) but has not yet seen its socket close."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING

from sqlalchemy import make_url

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import asyncpg


class SlowToCloseProxy:
    """Passes every byte through at once, but holds a close from the server back for
    `close_delay` seconds. It runs on a thread and loop of its own, so a test that
    blocks its own loop (stopping a live server) does not stall the connections."""

    def __init__(self, upstream_port: int, close_delay: float) -> None:
        self.upstream_port = upstream_port
        self.close_delay = close_delay
        self.port = 0
        self._upstream_ports: list[int] = []
        # Goodbyes: server-side ends of the stream relayed in full (the FATAL included),
        # counted against the backends `terminate_backends` killed.
        self._goodbyes_relayed = 0
        self._goodbyes_expected = 0
        self._goodbyes = threading.Condition()
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def url_through(self, url: str) -> str:
        """`url` (a SQLAlchemy or libpq URL) pointed at this proxy."""
        return make_url(url).set(port=self.port).render_as_string(hide_password=False)

    async def terminate_backends(self, admin: asyncpg.Connection) -> int:
        """`pg_terminate_backend` every server process connected through this proxy."""
        killed: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE client_port = ANY($1::int[])",
            list(self._upstream_ports),
        )
        with self._goodbyes:
            self._goodbyes_expected += killed
        return killed

    async def goodbyes_relayed(self, timeout: float = 120) -> None:
        """Wait until every backend `terminate_backends` killed has sent its last byte
        and this proxy has passed it on. `pg_terminate_backend` only signals the backend,
        which exits when it gets to it: a fixed sleep was too short on a busy machine.
        The client's socket then holds the goodbye; its close stays held back."""
        if not await asyncio.to_thread(self._wait_for_goodbyes, timeout):
            raise TimeoutError(f"a terminated backend did not hang up within {timeout} s")
        await asyncio.sleep(0.05)  # one turn of the client's loop to read what is buffered

    def _wait_for_goodbyes(self, timeout: float) -> bool:
        with self._goodbyes:
            return self._goodbyes.wait_for(
                lambda: self._goodbyes_relayed >= self._goodbyes_expected, timeout
            )

    def _relayed_goodbye(self) -> None:
        with self._goodbyes:
            self._goodbyes_relayed += 1
            self._goodbyes.notify_all()

    def run(self) -> None:
        asyncio.run(self._main())

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        pipes: list[asyncio.Task[None]] = []
        writers: list[asyncio.StreamWriter] = []

        async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            self._upstream_ports.append(server_w.get_extra_info("sockname")[1])
            writers.extend((client_w, server_w))
            pipes.append(asyncio.create_task(_pipe(client_r, server_w, close_delay=0)))
            pipes.append(
                asyncio.create_task(
                    _pipe(server_r, client_w, self.close_delay, self._relayed_goodbye)
                )
            )

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        await self._stop.wait()
        server.close()
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        for writer in writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextlib.contextmanager
def slow_to_close_proxy(url: str, close_delay: float = 3) -> Iterator[SlowToCloseProxy]:
    """A running proxy to the PostgreSQL server `url` names."""
    proxy = SlowToCloseProxy(make_url(url).port or 5432, close_delay)
    thread = threading.Thread(target=proxy.run, daemon=True)
    thread.start()
    if not proxy.ready.wait(10):
        raise RuntimeError("the proxy did not start")
    try:
        yield proxy
    finally:
        proxy.stop()
        thread.join(10)


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    close_delay: float,
    on_end: Callable[[], None] | None = None,
) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    if on_end is not None:
        on_end()
    await asyncio.sleep(close_delay)
    writer.close()
