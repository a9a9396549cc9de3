"""One HTTP request with retries: backoff with jitter on 5xx, 429 and timeouts; Retry-After."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx

from app.etl.sources.errors import SourceRequestFailed, SourceUnavailable
from app.retry import full_jitter

if TYPE_CHECKING:
    from app.etl.sources.http.options import HttpOptions


@dataclass(frozen=True)
class Fetched:
    content: bytes
    url: str  # after redirects: relative next links resolve against it
    link_next: str | None


MAX_BACKOFF_SECONDS = 60.0


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(attempt: int, base: float) -> float:
    """The wait before a request's next try: the one retry policy (`app.retry`)."""
    return full_jitter(attempt, base, MAX_BACKOFF_SECONDS)


async def fetch(
    client: httpx.AsyncClient, request: httpx.Request, options: HttpOptions, shown: str
) -> Fetched:
    """A successful response to `request`, read whole; `shown` names it in errors."""
    failed = _Failed("no attempt")
    for attempt in range(1, options.max_attempts + 1):
        outcome = await _attempt(client, request, options, shown)
        if isinstance(outcome, Fetched):
            return outcome
        failed = outcome
        if attempt < options.max_attempts:
            await _pause(failed.wait, attempt, options, shown, failed.problem)
    raise SourceUnavailable(
        f"{shown}: {failed.problem} after {options.max_attempts} attempts",
        details={"url": shown, "attempts": options.max_attempts},
    )


@dataclass(frozen=True)
class _Failed:
    """A try a later one may cure: what went wrong, and the server's Retry-After if any."""

    problem: str
    wait: float | None = None


async def _attempt(
    client: httpx.AsyncClient, request: httpx.Request, options: HttpOptions, shown: str
) -> Fetched | _Failed:
    """One try: the response, a transient failure, or a refusal raised at once."""
    try:
        response = await client.send(request, stream=True)
        try:
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"HTTP {response.status_code} {response.reason_phrase}"
                return _Failed(problem, retry_after(response.headers.get("Retry-After")))
            content = await _body(response, options, shown)
            link = response.links.get("next", {}).get("url")
            return Fetched(content, str(response.url), link)
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        return _Failed(f"no answer within {options.timeout_seconds:g} s")
    except httpx.TooManyRedirects:
        raise SourceRequestFailed(f"{shown}: too many redirects") from None
    except httpx.TransportError as error:
        return _Failed(f"connection failed ({error or type(error).__name__})")


async def _pause(
    wait: float | None, attempt: int, options: HttpOptions, shown: str, problem: str
) -> None:
    if wait is not None and wait > options.max_retry_wait_seconds:
        raise SourceUnavailable(
            f"{shown}: {problem}; the server asks to retry after {wait:.0f} s, longer than "
            f"max_retry_wait_seconds ({options.max_retry_wait_seconds:g})",
            details={"url": shown, "retry_after": wait},
        )
    await asyncio.sleep(wait if wait is not None else backoff(attempt, options.backoff_seconds))


async def _body(response: httpx.Response, options: HttpOptions, shown: str) -> bytes:
    if response.status_code >= 400:
        text = (await response.aread())[:300].decode("utf-8", errors="replace")
        raise SourceRequestFailed(
            f"{shown}: HTTP {response.status_code} {response.reason_phrase}: {text}",
            details={"url": shown, "status": response.status_code},
        )
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > options.max_page_bytes:
            raise SourceRequestFailed(
                f"{shown}: the response is over max_page_bytes ({options.max_page_bytes})"
            )
        chunks.append(chunk)
    return b"".join(chunks)
