"""The reader of the `http` kind: JSON pages fetched in turn, their records as frames."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx
import polars as pl

from app.errors import SourceMalformed
from app.etl.sources.batching import rebatch
from app.etl.sources.errors import located
from app.etl.sources.flatten import as_text, flatten_structs
from app.etl.sources.http.fetch import Fetched, fetch
from app.etl.sources.http.pages import PageAnswer, PageRequest, Pages, at_path
from app.etl.sources.netguard import guarded_transport
from app.etl.sources.reader import ROW_COLUMN, SOURCE_COLUMN
from app.etl.sources.reconcile import conform, final_schema, sample_schema
from app.etl.sources.secrets import REDACTED, SecretRef
from app.etl.sources.templates import render
from app.json_depth import JsonTooDeep, check_json_depth

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from app.etl.sources.http.config import HttpSource
    from app.etl.sources.http.options import HttpOptions
    from app.etl.sources.reader import ReadContext

_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class _Page:
    request: PageRequest
    shown: str  # the URL with secret params masked: errors and row locations name it
    fetched: Fetched
    body: Any
    frame: pl.DataFrame


class HttpReader:
    def __init__(self, config: HttpSource, context: ReadContext) -> None:
        self._config = config
        self._options = config.options
        self._context = context
        self._client: httpx.AsyncClient | None = None
        self._pages: Pages | None = None
        self._first: _Page | None = None
        self._schema: pl.Schema | None = None

    async def schema(self) -> pl.Schema:
        if self._schema is None:
            url = render(self._config.uri, self._context.params)
            self._pages = Pages(self._options.pagination, url, self._options.max_pages)
            self._first = await self._page(self._pages.first)
            infer = self._options.infer_types
            sample = await asyncio.to_thread(sample_schema, self._first.frame, infer)
            self._schema = final_schema(sample)
        return self._schema

    async def batches(self, batch_rows: int) -> AsyncIterator[pl.DataFrame]:
        target = await self.schema()
        async for batch in rebatch(self._frames(target), batch_rows):
            yield batch

    async def _frames(self, target: pl.Schema) -> AsyncIterator[pl.DataFrame]:
        page, self._first = self._first, None  # the first page, fetched by schema(), once
        if page is None:
            raise RuntimeError("a reader's batches can be read once")
        assert self._pages is not None
        while True:
            # Named by the masked URL: the fetched one may carry a secret query parameter.
            with located(page.shown):
                frame = await asyncio.to_thread(conform, page.frame, target, "record")
            yield frame
            fetched = page.fetched
            answer = PageAnswer(page.body, page.frame.height, fetched.url, fetched.link_next)
            following = self._pages.after(page.request, answer)
            if following is None:
                return
            page = await self._page(following)

    async def _page(self, request: PageRequest) -> _Page:
        params, shown_params = self._params(request)
        # Merged into the URL's own query (httpx's `params=` would replace it).
        url = httpx.URL(request.url).copy_merge_params(params)
        http_request = self._http().build_request(
            self._options.method, url, headers=self._headers(), json=self._options.json_body
        )
        shown = str(httpx.URL(request.url).copy_merge_params(shown_params))
        fetched = await fetch(self._http(), http_request, self._options, shown)
        with located(shown):
            body, frame = await asyncio.to_thread(_parse, fetched.content, self._options)
        where = pl.lit(shown, pl.String).alias(SOURCE_COLUMN)
        rows = pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(ROW_COLUMN)
        return _Page(request, shown, fetched, body, frame.with_columns(where, rows))

    def _params(self, request: PageRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        """(params to send, the same with secrets masked, for errors and row locations)."""
        if request.complete:
            return {}, {}
        sent: dict[str, Any] = {}
        shown: dict[str, Any] = {}
        for name, value in self._options.params.items():
            if isinstance(value, SecretRef):
                sent[name], shown[name] = value.resolve(), REDACTED
            else:
                text = render(value, self._context.params) if isinstance(value, str) else value
                sent[name] = shown[name] = _query_value(text)
        watermark = self._context.watermark
        if self._options.watermark_param and watermark is not None:
            sent[self._options.watermark_param] = _query_value(watermark.value)
            shown[self._options.watermark_param] = sent[self._options.watermark_param]
        return {**sent, **request.params}, {**shown, **request.params}

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        for name, value in self._options.headers.items():
            headers[name] = value.resolve() if isinstance(value, SecretRef) else value
        return headers

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=guarded_transport(allow_private=self._config.allow_private_networks),
                follow_redirects=True,
                max_redirects=_MAX_REDIRECTS,
                timeout=self._options.timeout_seconds,
                trust_env=False,  # an environment proxy would connect where the guard can't look
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _parse(content: bytes, options: HttpOptions) -> tuple[Any, pl.DataFrame]:
    """The page's JSON and its records as a frame (in a worker thread)."""
    try:
        check_json_depth(content)  # json.loads recurses: deep nesting is a RecursionError
        body = json.loads(content)
    except JsonTooDeep as error:
        raise SourceMalformed(f"the response is {error}", details={"depth": error.depth}) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SourceMalformed(f"the response is not JSON ({error})") from None
    records = at_path(body, options.records_path)
    if records is None and options.records_path and not _has_path(body, options.records_path):
        keys = ", ".join(body) if isinstance(body, dict) else type(body).__name__
        raise SourceMalformed(f"no `{options.records_path}` in the response (it has: {keys[:200]})")
    records = [] if records is None else records
    if not isinstance(records, list):
        raise SourceMalformed(
            f"`{options.records_path or 'the response'}` is a {type(records).__name__}, "
            "not a list of records; set records_path to the list"
        )
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise SourceMalformed(f"record {index} is a {type(record).__name__}, not an object")
    try:
        frame = pl.from_dicts(records, infer_schema_length=None) if records else pl.DataFrame()
    except (pl.exceptions.PolarsError, TypeError, ValueError) as error:
        raise SourceMalformed(f"the records do not form a table ({error})") from None
    frame = flatten_structs(frame, options.flatten_depth)
    return body, frame if options.infer_types else as_text(frame)


def _has_path(body: Any, path: str) -> bool:
    parent, _, last = path.rpartition(".")
    holder = at_path(body, parent) if parent else body
    return isinstance(holder, dict) and last in holder
