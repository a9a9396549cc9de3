"""What network sources may reach, how secrets are referenced, and that they stay hidden."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from app.errors import DataFlowError
from app.etl.sources import HttpSource, SecretRef, parse_source, redact
from app.etl.sources.http.fetch import backoff, retry_after
from app.etl.sources.netguard import is_public
from app.etl.sources.policy import SourcePolicy

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.1.2.3", False),  # "this network"
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
    ],
)
def test_only_global_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def policy(tmp_path: Path, *, private: bool = False) -> SourcePolicy:
    return SourcePolicy((tmp_path,), allow_private_networks=private)


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("ftp://example.com/data", "SOURCE_INVALID"),
        ("file:///etc/passwd", "SOURCE_INVALID"),
        ("gopher://example.com/", "SOURCE_INVALID"),
        ("http:///no-host", "SOURCE_INVALID"),
        ("http://10.0.0.5/api", "SOURCE_ADDRESS_REFUSED"),
        ("http://169.254.169.254/latest/meta-data", "SOURCE_ADDRESS_REFUSED"),
        ("http://[::ffff:127.0.0.1]/x", "SOURCE_ADDRESS_REFUSED"),
        ("http://LOCALHOST./x", "SOURCE_ADDRESS_REFUSED"),
        ("https://user:pw@example.com/x", "SOURCE_INVALID"),
        ("https://example.com/x?api_key=abc", "SOURCE_INVALID"),
        ("https://example.com/x?token=abc", "SOURCE_INVALID"),
    ],
)
def test_http_uris_that_are_refused(tmp_path: Path, uri: str, code: str) -> None:
    with pytest.raises(DataFlowError) as raised:
        parse_source("http", uri, {}, policy(tmp_path))
    assert raised.value.code == code
    assert raised.value.path == ["uri"]
    assert "pw" not in raised.value.message.replace("password", "")


def test_private_addresses_are_allowed_when_the_policy_says_so(tmp_path: Path) -> None:
    config = parse_source("http", "http://10.0.0.5/api", {}, policy(tmp_path, private=True))
    assert isinstance(config, HttpSource)
    assert config.allow_private_networks


@pytest.mark.parametrize(
    "options",
    [
        {"headers": {"Authorization": "Bearer abc"}},
        {"headers": {"X-Api-Key": "abc"}},
        {"headers": {"Cookie": "session=1"}},
        {"params": {"access_token": "abc"}},
        {"params": {"apikey": "abc"}},
    ],
)
def test_literal_credentials_are_refused(tmp_path: Path, options: dict[str, Any]) -> None:
    with pytest.raises(DataFlowError) as raised:
        parse_source("http", "https://example.com/x", options, policy(tmp_path))
    assert raised.value.code == "SOURCE_INVALID"
    assert "abc" not in raised.value.message
    assert "DATAFLOW_SECRET_" in raised.value.message


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "dataflow_secret_x", "PATH"])
def test_only_variables_meant_for_sources_can_be_referenced(tmp_path: Path, name: str) -> None:
    # Otherwise a source could ship the service's own SECRET_KEY to the user's server.
    options = {"headers": {"Authorization": {"secret": name}}}
    with pytest.raises(DataFlowError) as raised:
        parse_source("http", "https://example.com/x", options, policy(tmp_path))
    assert raised.value.path[:3] == ["options", "headers", "Authorization"]


def test_public_options_keep_references_and_hide_values(tmp_path: Path) -> None:
    options = {
        "headers": {
            "Authorization": {"secret": "DATAFLOW_SECRET_TOKEN", "prefix": "Bearer "},
            "Accept-Language": "en",
        },
        "params": {"region": "eu"},
        "records_path": "data",
    }
    config = parse_source("http", "https://example.com/x", options, policy(tmp_path))
    assert isinstance(config, HttpSource)
    assert config.public_options() == options


def test_redact_masks_credentials_in_stored_options() -> None:
    stored = {
        "headers": {"Authorization": "Bearer leaked", "Accept": "json"},
        "params": {"api_key": "leaked", "token": {"secret": "DATAFLOW_SECRET_T"}},
        "json_body": {"query": "x", "password": "leaked"},
    }
    assert redact(stored) == {
        "headers": {"Authorization": "***", "Accept": "json"},
        "params": {"api_key": "***", "token": {"secret": "DATAFLOW_SECRET_T"}},
        "json_body": {"query": "x", "password": "***"},
    }


def test_a_secret_is_read_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = SecretRef(secret="DATAFLOW_SECRET_X", prefix="Token ")
    monkeypatch.setenv("DATAFLOW_SECRET_X", "one")
    assert ref.resolve() == "Token one"
    monkeypatch.setenv("DATAFLOW_SECRET_X", "two")
    assert ref.resolve() == "Token two"
    monkeypatch.delenv("DATAFLOW_SECRET_X")
    with pytest.raises(DataFlowError) as raised:
        ref.resolve()
    assert raised.value.code == "SOURCE_SECRET_MISSING"


def test_sql_dsn_passwords_are_refused_and_hosts_checked(tmp_path: Path) -> None:
    query = {"query": "SELECT 1"}
    for uri, code in [
        ("postgresql://u:pw@db.example.com/x", "SOURCE_INVALID"),
        ("mysql://db.example.com/x", "SOURCE_INVALID"),
        ("postgresql://u@10.1.1.1/x", "SOURCE_ADDRESS_REFUSED"),
        ("postgresql://u@localhost/x", "SOURCE_ADDRESS_REFUSED"),
    ]:
        with pytest.raises(DataFlowError) as raised:
            parse_source("sql", uri, query, policy(tmp_path))
        assert raised.value.code == code, uri
    config = parse_source("sql", "postgresql://u@db.example.com/x", query, policy(tmp_path))
    assert config.public_uri() == "postgresql://u@db.example.com/x"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),  # 30 s after "now" below
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_takes_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC)
    assert retry_after(header, now) == seconds


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    for attempt in range(1, 8):
        ceiling = min(60.0, 0.5 * 2 ** (attempt - 1))
        waits = [backoff(attempt, 0.5) for _ in range(200)]
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling / 2  # jittered across the range, not a constant
    assert timedelta(seconds=backoff(30, 1.0)) <= timedelta(seconds=60)
