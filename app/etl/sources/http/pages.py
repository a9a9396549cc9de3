"""Walking an API's pages: which request comes next, by page, offset, cursor or next link."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from app.errors import SourceMalformed
from app.etl.sources.http.options import (
    CursorPagination,
    NextLinkPagination,
    OffsetPagination,
    PagePagination,
)

if TYPE_CHECKING:
    from app.etl.sources.http.options import Pagination


def at_path(body: Any, path: str) -> Any:
    """The value at a dotted path (`data.items`), or None when a key is missing."""
    value = body
    for key in path.split(".") if path else []:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


@dataclass(frozen=True)
class PageRequest:
    """The URL to ask for and the query parameters the pagination adds to it."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)
    number: int = 1
    # A next link is the whole request: the source's own params are not added to it.
    complete: bool = False


@dataclass(frozen=True)
class PageAnswer:
    """What the pagination needs from a page: its JSON, count, final URL and Link next."""

    body: Any
    records: int
    url: str
    link_next: str | None


class Pages:
    """The pagination state machine: `first`, then `after(...)` until it returns None."""

    def __init__(self, pagination: Pagination, url: str, max_pages: int) -> None:
        self._paging = pagination
        self._max_pages = max_pages
        self._seen: set[str] = set()
        self.first = PageRequest(url, self._params(0))

    def _params(self, index: int) -> dict[str, Any]:
        paging = self._paging
        if isinstance(paging, PagePagination):
            size = {paging.size_param: paging.size} if paging.size_param and paging.size else {}
            return {paging.param: paging.start + index, **size}
        if isinstance(paging, OffsetPagination):
            offset = paging.start + index * paging.limit
            return {paging.param: offset, paging.limit_param: paging.limit}
        return {}

    def after(self, current: PageRequest, answer: PageAnswer) -> PageRequest | None:
        """The request for the page after `current`, or None when it was the last."""
        following = self._following(current, answer)
        if following is not None and current.number >= self._max_pages:
            raise SourceMalformed(
                f"more than max_pages ({self._max_pages}) pages; raise max_pages if the API "
                "really has that many"
            )
        return following

    def _following(self, current: PageRequest, answer: PageAnswer) -> PageRequest | None:
        paging, number = self._paging, current.number + 1
        if isinstance(paging, PagePagination | OffsetPagination):
            short = paging.size if isinstance(paging, PagePagination) else paging.limit
            if answer.records == 0 or (short is not None and answer.records < short):
                return None
            return PageRequest(current.url, self._params(number - 1), number)
        if isinstance(paging, CursorPagination):
            cursor = at_path(answer.body, paging.path)
            if cursor is None or cursor == "" or answer.records == 0:
                return None
            self._unseen(f"cursor {cursor}", current)
            return PageRequest(current.url, {paging.param: cursor}, number)
        if isinstance(paging, NextLinkPagination):
            link = at_path(answer.body, paging.path) if paging.path else answer.link_next
            if not link:
                return None
            if not isinstance(link, str):
                raise SourceMalformed(f"page {current.number}: the next link is not a string")
            url = urljoin(answer.url, link)
            if urlsplit(url).scheme not in {"http", "https"}:
                raise SourceMalformed(f"page {current.number}: next link {url!r} is not http(s)")
            self._unseen(url, current)
            return PageRequest(url, {}, number, complete=True)
        return None

    def _unseen(self, key: str, current: PageRequest) -> None:
        # An API that hands back a cursor or link already followed would loop for ever.
        if key in self._seen:
            raise SourceMalformed(f"page {current.number}: the API repeats {key}")
        self._seen.add(key)
