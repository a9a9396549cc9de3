"""Which network addresses sources may reach: no loopback, private or link-local by default.

Names are checked where they are resolved, in the connection itself, and the socket is
opened to the very address that was checked: a DNS answer that changes between check
and connect (rebinding), or a redirect to an internal host, meets the same check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from app.errors import SourceInvalid
from app.etl.sources.errors import SourceAddressRefused

if TYPE_CHECKING:
    from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_HINT = "set ALLOW_PRIVATE_NETWORKS=true to allow internal addresses"


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address (IPv4-mapped IPv6 judged by its IPv4 part)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def check_address(host: str, address: IPAddress, *, allow_private: bool) -> None:
    if not allow_private and not is_public(address):
        raise SourceAddressRefused(
            f"{host} resolves to {address}, a loopback, private, link-local or otherwise "
            f"internal address, which sources may not reach; {_HINT}",
            path=["uri"],
            details={"host": host, "address": str(address)},
        )


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_uri_characters(uri: str) -> None:
    """No control characters (NUL, newlines, ...): no path or URL holds one, and the
    libraries below fail on them in their own ways (ValueError, httpx.InvalidURL)."""
    for position, character in enumerate(uri):
        if ord(character) < 0x20 or ord(character) == 0x7F:
            raise SourceInvalid(
                f"uri: holds the control character U+{ord(character):04X} at position "
                f"{position}; a path or URL cannot contain one",
                path=["uri"],
                details={"position": position},
            )


def numeric_host_address(host: str) -> IPAddress | None:
    """The address a host in a legacy numeric form means to the system resolver
    (`0177.0.0.1`, `0x7f.1`, `2130706433`, `127.1`), or None for any other host."""
    if literal_address(host) is not None:
        return None
    try:
        packed = socket.inet_aton(host)
    except (OSError, ValueError):
        return None
    return ipaddress.IPv4Address(packed)


def check_host(host: str | None, uri: str, *, allow_private: bool) -> None:
    if not host:
        raise SourceInvalid(f"{uri!r} names no host", path=["uri"])
    bad = next((ch for ch in host if not (ch.isalnum() or ch in ".-_:%")), None)
    if bad is not None:
        raise SourceInvalid(
            f"the host {host!r} holds {bad!r}, which no host name has", path=["uri"]
        )
    numeric = numeric_host_address(host)
    if numeric is not None:
        # Resolvers read these forms as addresses (octal, hex, short), URL parsers
        # disagree on them; refused whatever they mean, so no check is skipped.
        raise SourceInvalid(
            f"the host {host} is an IPv4 address in a legacy numeric form (it means "
            f"{numeric}); write the address in dotted decimal",
            path=["uri"],
            details={"host": host, "address": str(numeric)},
        )
    address = literal_address(host)
    if address is not None:
        check_address(host, address, allow_private=allow_private)
    elif not allow_private and host.lower().rstrip(".") in {"localhost", "localhost.localdomain"}:
        raise SourceAddressRefused(f"{host} is this machine; {_HINT}", path=["uri"])


async def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses `host` resolves to, every one of them allowed (else refused)."""
    literal = literal_address(host) or numeric_host_address(host)
    if literal is not None:
        check_address(host, literal, allow_private=allow_private)
        return [str(literal)]
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise httpcore.ConnectError(f"cannot resolve {host}: {error.strerror}") from None
    addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
    for address in addresses:
        # One internal answer refuses the name: which answer a client uses is not ours.
        check_address(
            host, ipaddress.ip_address(address.split("%")[0]), allow_private=allow_private
        )
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses `resolve` allowed."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port, allow_private=self._allow_private)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as failed:
                error = failed
        assert error is not None  # resolve() returns at least one address or raises
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        del timeout, socket_options
        raise SourceAddressRefused(f"unix socket {path}: sources connect over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(*, allow_private: bool) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection (redirects too) goes through the guard."""
    transport = httpx.AsyncHTTPTransport(trust_env=False, retries=0)
    # httpx builds its pool without a way to pass a network backend; this pool is built
    # the same way (same defaults) with the guarded backend. TLS still verifies the
    # hostname: httpcore sends the URL's host as SNI, not the address connected to.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=10,
        max_keepalive_connections=10,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(allow_private=allow_private),
    )
    return transport
