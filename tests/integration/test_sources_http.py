"""HTTP sources against a real local server: pagination, retries, secrets, refused addresses."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import pytest

from app.errors import DataFlowError
from app.etl.sources import (
    ROW_COLUMN,
    SOURCE_COLUMN,
    HttpSource,
    ReadContext,
    Watermark,
    parse_source,
)
from app.etl.sources.netguard import is_public
from app.etl.sources.policy import SourcePolicy
from app.etl.sources.preview import preview_source
from tests.unit.etl.sources.http_api import Api
from tests.unit.etl.sources.readers import data_only, read_all, read_batches

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FAST = {"backoff_seconds": 0.0}  # retries at once: the tests check outcomes, not timing


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.close()


def http(uri: str, tmp_path: Path, **options: Any) -> HttpSource:
    """An http source under a policy that allows this machine (the test server is on it)."""
    policy = SourcePolicy((tmp_path,), allow_private_networks=True)
    config = parse_source("http", uri, options, policy)
    assert isinstance(config, HttpSource)
    return config


def ids(frame: Any) -> list[int]:
    return list(frame["id"].to_list())


async def test_page_number_pagination_stops_at_a_short_page(api: Api, tmp_path: Path) -> None:
    paging = {"type": "page", "size_param": "per_page", "size": 2}
    config = http(f"{api.url}/pages", tmp_path, records_path="data.items", pagination=paging)
    frame = await read_all(config)
    assert ids(frame) == [1, 2, 3, 4, 5]
    assert frame[ROW_COLUMN].to_list() == [1, 2, 1, 2, 1]
    assert frame[SOURCE_COLUMN].to_list()[-1] == f"{api.url}/pages?page=3&per_page=2"
    assert api.calls["/pages"] == 3


async def test_offset_pagination(api: Api, tmp_path: Path) -> None:
    config = http(f"{api.url}/offsets", tmp_path, pagination={"type": "offset", "limit": 2})
    assert ids(await read_all(config)) == [1, 2, 3, 4, 5]
    offsets = [query["offset"] for path, query, _ in api.requests]
    assert offsets == [["0"], ["2"], ["4"]]


async def test_cursor_pagination(api: Api, tmp_path: Path) -> None:
    paging = {"type": "cursor", "param": "cursor", "path": "meta.next"}
    config = http(f"{api.url}/cursors", tmp_path, records_path="items", pagination=paging)
    assert ids(await read_all(config)) == [1, 2, 3, 4, 5]


async def test_a_cursor_that_repeats_fails_instead_of_looping(api: Api, tmp_path: Path) -> None:
    paging = {"type": "cursor", "path": "meta.next"}
    config = http(f"{api.url}/loop", tmp_path, records_path="items", pagination=paging)
    with pytest.raises(DataFlowError) as raised:
        await read_all(config)
    assert raised.value.code == "SOURCE_MALFORMED"
    assert "repeats cursor same" in raised.value.message


async def test_next_link_from_the_link_header(api: Api, tmp_path: Path) -> None:
    config = http(f"{api.url}/linked", tmp_path, pagination={"type": "next_link"})
    frame = await read_all(config)
    assert ids(frame) == [1, 2, 3, 4, 5]
    assert frame[SOURCE_COLUMN].unique(maintain_order=True).to_list() == [
        f"{api.url}/linked",
        f"{api.url}/linked?from=2",
        f"{api.url}/linked?from=4",
    ]


async def test_next_link_from_the_body(api: Api, tmp_path: Path) -> None:
    paging = {"type": "next_link", "path": "next"}
    config = http(f"{api.url}/body_links", tmp_path, records_path="results", pagination=paging)
    assert ids(await read_all(config, batch_rows=2)) == [1, 2, 3, 4, 5]


async def test_a_500_then_success_is_retried(api: Api, tmp_path: Path) -> None:
    frame = await read_all(http(f"{api.url}/flaky", tmp_path, **FAST))
    assert ids(frame) == [1, 2]
    assert api.calls["/flaky"] == 2


async def test_a_429_is_retried_after_retry_after(api: Api, tmp_path: Path) -> None:
    frame = await read_all(http(f"{api.url}/limited", tmp_path, **FAST))
    assert ids(frame) == [1]
    assert api.calls["/limited"] == 2


async def test_a_retry_after_past_the_limit_fails_transiently(api: Api, tmp_path: Path) -> None:
    config = http(f"{api.url}/limited_long", tmp_path, max_retry_wait_seconds=5)
    with pytest.raises(DataFlowError) as raised:
        await read_all(config)
    assert raised.value.code == "SOURCE_UNAVAILABLE"
    assert "retry after 3600 s" in raised.value.message
    assert api.calls["/limited_long"] == 1


async def test_persistent_5xx_gives_up_after_the_attempts(api: Api, tmp_path: Path) -> None:
    with pytest.raises(DataFlowError) as raised:
        await read_all(http(f"{api.url}/down", tmp_path, max_attempts=3, **FAST))
    assert raised.value.code == "SOURCE_UNAVAILABLE"
    assert raised.value.message == (
        f"{api.url}/down: HTTP 503 Service Unavailable after 3 attempts"
    )
    assert api.calls["/down"] == 3


async def test_a_404_is_not_retried(api: Api, tmp_path: Path) -> None:
    with pytest.raises(DataFlowError) as raised:
        await read_all(http(f"{api.url}/nowhere", tmp_path, **FAST))
    assert raised.value.code == "SOURCE_REQUEST_FAILED"
    assert "HTTP 404" in raised.value.message
    assert api.calls["/nowhere"] == 1


async def test_malformed_json_names_the_page(api: Api, tmp_path: Path) -> None:
    with pytest.raises(DataFlowError) as raised:
        await read_all(http(f"{api.url}/broken", tmp_path, records_path="items"))
    assert raised.value.code == "SOURCE_MALFORMED"
    assert raised.value.message.startswith(f"{api.url}/broken, the response is not JSON")


async def test_a_records_path_that_is_not_there_is_named(api: Api, tmp_path: Path) -> None:
    with pytest.raises(DataFlowError) as raised:
        await read_all(http(f"{api.url}/cursors", tmp_path, records_path="data.rows"))
    assert "no `data.rows` in the response (it has: items, meta)" in raised.value.message


async def test_secret_headers_and_params_are_resolved_and_never_shown(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAFLOW_SECRET_API_TOKEN", "s3cret")
    monkeypatch.setenv("DATAFLOW_SECRET_API_KEY", "k3y")
    config = http(
        f"{api.url}/auth",
        tmp_path,
        headers={"Authorization": {"secret": "DATAFLOW_SECRET_API_TOKEN", "prefix": "Bearer "}},
        params={"api_key": {"secret": "DATAFLOW_SECRET_API_KEY"}, "region": "eu"},
    )
    frame = await read_all(config)
    assert ids(frame) == [1]
    _, query, _ = api.requests[-1]
    assert query == {"api_key": ["k3y"], "region": ["eu"]}
    assert frame[SOURCE_COLUMN][0] == f"{api.url}/auth?api_key=%2A%2A%2A&region=eu"
    public = str(config.public_options())
    assert "s3cret" not in public
    assert "k3y" not in public


async def test_a_missing_secret_is_a_typed_error(api: Api, tmp_path: Path) -> None:
    headers = {"Authorization": {"secret": "DATAFLOW_SECRET_NOT_SET_ANYWHERE"}}
    with pytest.raises(DataFlowError) as raised:
        await read_all(http(f"{api.url}/auth", tmp_path, headers=headers))
    assert raised.value.code == "SOURCE_SECRET_MISSING"
    assert "DATAFLOW_SECRET_NOT_SET_ANYWHERE" in raised.value.message


async def test_the_watermark_is_sent_as_its_param(api: Api, tmp_path: Path) -> None:
    config = http(f"{api.url}/since", tmp_path, watermark_param="updated_since")
    context = ReadContext(watermark=Watermark("updated", "2026-01-03T00:00:00"))
    frame = await read_all(config, context)
    assert ids(frame) == [4, 5]
    assert api.requests[-1][1] == {"updated_since": ["2026-01-03T00:00:00"]}


async def test_redirects_are_followed(api: Api, tmp_path: Path) -> None:
    assert ids(await read_all(http(f"{api.url}/redirect", tmp_path))) == [1, 2, 3, 4, 5]


async def test_the_first_page_is_fetched_once_for_schema_and_rows(api: Api, tmp_path: Path) -> None:
    schema, batches = await read_batches(http(f"{api.url}/offsets?offset=0&limit=9", tmp_path))
    assert list(schema) == ["id", "name", "updated"]
    assert sum(batch.height for batch in batches) == 5
    assert api.calls["/offsets"] == 1


async def test_preview_reads_only_the_pages_it_needs(api: Api, tmp_path: Path) -> None:
    config = http(f"{api.url}/offsets", tmp_path, pagination={"type": "offset", "limit": 2})
    frame = await preview_source(config, ReadContext(), 2)
    assert data_only(frame)["id"].to_list() == [1, 2]
    assert api.calls["/offsets"] == 1


def test_the_default_policy_refuses_loopback_addresses(tmp_path: Path) -> None:
    for uri in ("http://127.0.0.1:8000/x", "http://[::1]/x", "http://localhost/x"):
        with pytest.raises(DataFlowError) as raised:
            parse_source("http", uri, {}, SourcePolicy((tmp_path,)))
        assert raised.value.code == "SOURCE_ADDRESS_REFUSED", uri


async def test_the_connection_itself_refuses_an_internal_address(api: Api, tmp_path: Path) -> None:
    # Built past parse_source's literal check: a DNS name or a redirect reaches the
    # connection the same way, and it must refuse on its own.
    config = HttpSource(uri=f"{api.url}/offsets", allow_private_networks=False)
    with pytest.raises(DataFlowError) as raised:
        await read_all(config)
    assert raised.value.code == "SOURCE_ADDRESS_REFUSED"
    assert api.calls["/offsets"] == 0


async def test_a_name_resolving_to_an_internal_address_is_refused(api: Api, tmp_path: Path) -> None:
    name = socket.gethostname()
    port = api.url.rsplit(":", 1)[1]
    addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    if any(is_public(__import__("ipaddress").ip_address(a)) for a in addresses):
        pytest.skip(f"{name} resolves to a public address here")
    config = parse_source("http", f"http://{name}:{port}/offsets", {}, SourcePolicy((tmp_path,)))
    with pytest.raises(DataFlowError) as raised:
        await read_all(config)
    assert raised.value.code == "SOURCE_ADDRESS_REFUSED"
    assert name in raised.value.message


async def test_a_value_that_does_not_fit_names_the_masked_page_and_record(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAFLOW_SECRET_KEY_FOR_TYPED", "k3y")
    params = {"api_key": {"secret": "DATAFLOW_SECRET_KEY_FOR_TYPED"}}
    config = http(f"{api.url}/typed", tmp_path, params=params, pagination={"type": "page"})
    with pytest.raises(DataFlowError) as raised:
        await read_all(config)
    assert raised.value.code == "SOURCE_MALFORMED"
    assert raised.value.message == (
        f"{api.url}/typed?api_key=%2A%2A%2A&page=2, record 1: column `id` expected Int64, got 'abc'"
    )


async def test_keys_first_seen_on_a_later_page_arrive_as_new_columns(
    api: Api, tmp_path: Path
) -> None:
    config = http(f"{api.url}/evolving", tmp_path, pagination={"type": "page"})
    frame = await read_all(config)
    assert data_only(frame).to_dict(as_series=False) == {"id": [1, 2], "extra__note": [None, "x"]}


async def test_a_timeout_is_retried(api: Api, tmp_path: Path) -> None:
    frame = await read_all(http(f"{api.url}/slow", tmp_path, timeout_seconds=0.3, **FAST))
    assert ids(frame) == [1, 2, 3]
    assert api.calls["/slow"] == 2
