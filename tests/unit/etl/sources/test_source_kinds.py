"""Parsing every source kind, and the pure pieces behind the readers (types, globs, pages)."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import DataFlowError
from app.etl.sources import (
    CsvSource,
    HttpSource,
    JsonSource,
    NdjsonSource,
    ParquetSource,
    SqlSource,
    parse_source,
)
from app.etl.sources.files.location import LocalFiles, S3Files
from app.etl.sources.files.s3_store import glob_regex
from app.etl.sources.http.options import HttpOptions
from app.etl.sources.http.pages import PageAnswer, PageRequest, Pages, at_path
from app.etl.sources.policy import SourcePolicy
from app.etl.sources.reconcile import merge_types, reconcile
from app.etl.sources.templates import render

if TYPE_CHECKING:
    from pathlib import Path


def test_each_file_kind_parses_to_its_model(tmp_path: Path) -> None:
    policy = SourcePolicy((tmp_path,), s3_endpoint_url="http://s3.local:9000")
    assert isinstance(parse_source("json", "a/*.json", {}, policy), JsonSource)
    assert isinstance(
        parse_source("ndjson", "a.ndjson", {"flatten_depth": 0}, policy), NdjsonSource
    )
    parquet = parse_source("parquet", "s3://bucket-1/raw/{date}/*.parquet", {}, policy)
    assert isinstance(parquet, ParquetSource)
    assert parquet.location == S3Files(
        bucket="bucket-1", key="raw/{date}/*.parquet", endpoint_url="http://s3.local:9000"
    )
    csv = parse_source("csv", "data/{date}/*.csv.gz", {}, policy)
    assert isinstance(csv, CsvSource)
    assert csv.location == LocalFiles(
        roots=(tmp_path,), base=tmp_path / "data", pattern="{date}/*.csv.gz"
    )


@pytest.mark.parametrize(
    ("kind", "options", "path"),
    [
        ("json", {"flatten_depth": 11}, ["options", "flatten_depth"]),
        ("json", {"delimiter": ","}, ["options", "delimiter"]),
        ("parquet", {"compression": "gzip"}, ["options", "compression"]),
        ("ndjson", {"compression": "brotli"}, ["options", "compression"]),
        ("csv", {"infer_types": "no"}, ["options", "infer_types"]),
    ],
)
def test_file_options_are_checked_per_kind(
    tmp_path: Path, kind: str, options: dict[str, Any], path: list[str]
) -> None:
    with pytest.raises(DataFlowError) as raised:
        parse_source(kind, "x", options, SourcePolicy((tmp_path,)))
    assert raised.value.code == "SOURCE_INVALID"
    assert raised.value.path == path


def test_an_unknown_option_lists_the_kind_s_options(tmp_path: Path) -> None:
    with pytest.raises(DataFlowError) as raised:
        parse_source("parquet", "x.parquet", {"header": True}, SourcePolicy((tmp_path,)))
    assert (
        raised.value.message == "options.header: unknown option; parquet options are: union_by_name"
    )


def test_a_stray_brace_in_a_uri_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataFlowError) as raised:
        parse_source("csv", "data/{not a param}.csv", {}, SourcePolicy((tmp_path,)))
    assert "braces are only allowed around a run param name" in raised.value.message


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"pagination": {"type": "pages"}}, ["options", "pagination"]),
        ({"pagination": {"type": "cursor"}}, ["options", "pagination", "cursor", "path"]),
        ({"records_path": "data..items"}, ["options", "records_path"]),
        ({"headers": {"Bad Header": "x"}}, ["options", "headers"]),
        ({"headers": {"X-Note": "a\r\nInjected: 1"}}, ["options", "headers"]),
        ({"method": "DELETE"}, ["options", "method"]),
        ({"max_attempts": 0}, ["options", "max_attempts"]),
    ],
)
def test_http_options_are_checked(tmp_path: Path, options: dict[str, Any], path: list[str]) -> None:
    with pytest.raises(DataFlowError) as raised:
        parse_source("http", "https://api.example.com/v1", options, SourcePolicy((tmp_path,)))
    assert raised.value.path == path


def test_sql_sources_need_a_read_query(tmp_path: Path) -> None:
    policy = SourcePolicy((tmp_path,))
    config = parse_source("sql", "postgresql://u@db.example.com/x", {"query": "select 1"}, policy)
    assert isinstance(config, SqlSource)
    for options in ({}, {"query": "TRUNCATE t"}, {"query": "select 1", "params": "1"}):
        with pytest.raises(DataFlowError) as raised:
            parse_source("sql", "postgresql://u@db.example.com/x", options, policy)
        assert raised.value.code == "SOURCE_INVALID"


def test_an_http_source_keeps_its_uri_and_defaults(tmp_path: Path) -> None:
    config = parse_source(
        "http", "https://api.example.com/v1/{date}", {}, SourcePolicy((tmp_path,))
    )
    assert isinstance(config, HttpSource)
    assert config.options == HttpOptions()
    assert config.public_options() == {}


def test_templates_take_only_whitelisted_values() -> None:
    assert (
        render("raw/{date}/part-{n}.csv", {"date": "2026-11-26", "n": 3})
        == "raw/2026-11-26/part-3.csv"
    )
    for value in ("a/b", "..", ".hidden", "a b", "x*", True):
        with pytest.raises(DataFlowError):
            render("{v}", {"v": value})


@pytest.mark.parametrize(
    ("left", "right", "merged"),
    [
        (pl.Int32(), pl.Int64(), pl.Int64()),
        (pl.Int64(), pl.Int8(), pl.Int64()),
        (pl.UInt8(), pl.UInt32(), pl.UInt32()),
        (pl.UInt32(), pl.Int16(), pl.Int64()),
        (pl.Int64(), pl.Float32(), pl.Float64()),
        (pl.Float32(), pl.Float64(), pl.Float64()),
        (pl.Null(), pl.Date(), pl.Date()),
        (pl.Date(), pl.Datetime("us"), pl.Datetime("us")),
        (pl.String(), pl.Int64(), None),
        (pl.Boolean(), pl.Int64(), None),
        (pl.Datetime("us"), pl.Datetime("us", "UTC"), None),
    ],
)
def test_types_merge_only_without_loss(
    left: pl.DataType, right: pl.DataType, merged: pl.DataType | None
) -> None:
    assert merge_types(left, right) == merged
    assert merge_types(right, left) == merged


def test_union_by_name_appends_new_columns_in_file_order() -> None:
    schemas = [
        ("a", pl.Schema({"id": pl.Int64(), "x": pl.Int64()})),
        ("b", pl.Schema({"y": pl.String(), "id": pl.Int32(), "x": pl.Float64()})),
    ]
    assert reconcile(schemas, union_by_name=True) == pl.Schema(
        {"id": pl.Int64(), "x": pl.Float64(), "y": pl.String()}
    )
    with pytest.raises(DataFlowError) as raised:
        reconcile(schemas, union_by_name=False)
    assert raised.value.message.startswith("b has an extra column `y` (compared with a)")


@given(
    pattern=st.text(alphabet="ab/*?", min_size=1, max_size=8),
    key=st.text(alphabet="ab/", max_size=8),
)
def test_key_globs_match_like_path_globs(pattern: str, key: str) -> None:
    # Within one path segment, fnmatch (with '/' kept out of '*' and '?') is the reference.
    if "**" in pattern:
        return
    expected = fnmatch.fnmatchcase(key, pattern) and key.count("/") == pattern.count("/")
    assert bool(glob_regex(pattern).fullmatch(key)) == expected


def test_double_star_spans_directories() -> None:
    regex = glob_regex("raw/**/part-[0-9].parquet")
    assert regex.fullmatch("raw/part-1.parquet")
    assert regex.fullmatch("raw/2026/01/part-7.parquet")
    assert not regex.fullmatch("raw/2026/part-x.parquet")


def test_at_path_walks_objects_and_lists() -> None:
    body = {"data": {"items": [{"id": 1}], "next": None}}
    assert at_path(body, "data.items.0.id") == 1
    assert at_path(body, "data.missing") is None
    assert at_path(body, "") is body


def test_page_pagination_without_a_size_stops_at_an_empty_page() -> None:
    pages = Pages(HttpOptions.model_validate({"pagination": {"type": "page"}}).pagination, "u", 10)
    assert pages.first == PageRequest("u", {"page": 1})
    second = pages.after(pages.first, PageAnswer({}, 3, "u", None))
    assert second == PageRequest("u", {"page": 2}, 2)
    assert pages.after(second, PageAnswer({}, 0, "u", None)) is None


def test_max_pages_stops_a_runaway_api() -> None:
    paging = HttpOptions.model_validate({"pagination": {"type": "offset", "limit": 1}}).pagination
    pages = Pages(paging, "u", 2)
    second = pages.after(pages.first, PageAnswer({}, 1, "u", None))
    assert second is not None
    with pytest.raises(DataFlowError) as raised:
        pages.after(second, PageAnswer({}, 1, "u", None))
    assert "more than max_pages (2) pages" in raised.value.message
