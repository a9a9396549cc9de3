"""Source configuration: known kinds, checked options, and files confined to their roots."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from app.errors import SourceInvalid
from app.etl.sources import SOURCE_KINDS, CsvOptions, CsvSource, parse_source
from app.etl.sources.policy import SourcePolicy

if TYPE_CHECKING:
    from pathlib import Path


def csv_source(uri: str, policy: SourcePolicy) -> CsvSource:
    config = parse_source("csv", uri, {}, policy)
    assert isinstance(config, CsvSource)
    return config


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "data.csv").write_text("a\n1\n")
    (tmp_path / "outside.csv").write_text("secret\n")
    return root


def test_a_relative_path_resolves_against_the_first_root(root: Path, tmp_path: Path) -> None:
    config = parse_source(
        "csv",
        "sub/data.csv",
        {},
        SourcePolicy(
            (
                root,
                tmp_path / "other",
            )
        ),
    )
    assert isinstance(config, CsvSource)
    assert config.path == root / "sub" / "data.csv"
    assert config.options == CsvOptions()


def test_absolute_paths_and_file_urls_inside_a_root_are_accepted(root: Path) -> None:
    path = root / "sub" / "data.csv"
    assert csv_source(str(path), SourcePolicy((root,))).path == path
    assert csv_source(f"file://{path}", SourcePolicy((root,))).path == path
    assert csv_source(f"file://localhost{path}", SourcePolicy((root,))).path == path


def test_a_file_that_does_not_exist_yet_is_accepted(root: Path) -> None:
    assert csv_source("later.csv", SourcePolicy((root,))).path == root / "later.csv"


@pytest.mark.parametrize(
    "uri", ["../outside.csv", "sub/../../outside.csv", "/etc/passwd", "file:///etc/passwd"]
)
def test_a_path_that_escapes_the_roots_is_refused(root: Path, uri: str) -> None:
    with pytest.raises(SourceInvalid) as raised:
        parse_source("csv", uri, {}, SourcePolicy((root,)))
    assert raised.value.code == "SOURCE_INVALID"
    assert "escapes the allowed roots" in raised.value.message
    assert raised.value.path == ["uri"]


def test_a_symlink_out_of_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "link.csv").symlink_to(tmp_path / "outside.csv")
    (root / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    for uri in ("link.csv", "dirlink/outside.csv"):
        with pytest.raises(SourceInvalid) as raised:
            parse_source("csv", uri, {}, SourcePolicy((root,)))
        assert "escapes the allowed roots" in raised.value.message


def test_a_symlink_within_the_root_reads_its_real_target(root: Path) -> None:
    (root / "alias.csv").symlink_to(root / "sub" / "data.csv")
    config = csv_source("alias.csv", SourcePolicy((root,)))
    assert config.path == root / "sub" / "data.csv"
    assert os.path.realpath(config.path) == str(config.path)


def test_a_root_that_is_itself_a_link_still_confines(tmp_path: Path, root: Path) -> None:
    (tmp_path / "root_link").symlink_to(root, target_is_directory=True)
    config = csv_source("sub/data.csv", SourcePolicy((tmp_path / "root_link",)))
    assert config.path == root / "sub" / "data.csv"
    with pytest.raises(SourceInvalid):
        parse_source("csv", "../outside.csv", {}, SourcePolicy((tmp_path / "root_link",)))


@pytest.mark.parametrize(
    ("uri", "roots_given"),
    [
        ("s3://Bad_Bucket/orders.csv", True),
        ("s3://bucket", True),
        ("ftp://host/data.csv", True),
        ("file://elsewhere/data.csv", True),
        ("", True),
        ("data.csv", False),
    ],
)
def test_unusable_uris_are_refused(root: Path, uri: str, roots_given: bool) -> None:
    with pytest.raises(SourceInvalid):
        parse_source("csv", uri, {}, SourcePolicy((root,) if roots_given else ()))


def test_an_unknown_kind_names_the_known_ones(root: Path) -> None:
    with pytest.raises(SourceInvalid) as raised:
        parse_source("avro", "sub/data.avro", {}, SourcePolicy((root,)))
    assert raised.value.message == (
        f"unknown source kind 'avro'; known kinds: {', '.join(SOURCE_KINDS.names())}"
    )
    assert {"csv", "json", "ndjson", "parquet", "xlsx", "http", "sql"} <= set(SOURCE_KINDS.names())
    assert raised.value.path == ["kind"]


def test_options_are_parsed(root: Path) -> None:
    options = {
        "delimiter": ";",
        "header": False,
        "encoding": "utf8-lossy",
        "null_values": ["NA", ""],
        "quote_char": "'",
    }
    config = parse_source("csv", "sub/data.csv", options, SourcePolicy((root,)))
    assert isinstance(config, CsvSource)
    assert config.options.model_dump(include=set(options)) == options
    assert config.public_options() == options


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"sep": ","}, ["options", "sep"]),
        ({"delimiter": ";;"}, ["options", "delimiter"]),
        ({"delimiter": "\n"}, ["options", "delimiter"]),
        ({"delimiter": "é"}, ["options", "delimiter"]),
        ({"header": "yes"}, ["options", "header"]),
        ({"encoding": "latin1"}, ["options", "encoding"]),
        ({"null_values": "NA"}, ["options", "null_values"]),
        ({"delimiter": '"'}, ["options"]),
    ],
)
def test_bad_options_are_refused_with_their_path(
    root: Path, options: dict[str, Any], path: list[str]
) -> None:
    with pytest.raises(SourceInvalid) as raised:
        parse_source("csv", "sub/data.csv", options, SourcePolicy((root,)))
    assert raised.value.path == path
