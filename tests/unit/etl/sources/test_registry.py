"""The registry of source kinds: lookups by name, and entries that agree with their models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from app.errors import SourceInvalid
from app.etl.sources import (
    SOURCE_KINDS,
    CsvOptions,
    CsvSource,
    HttpSource,
    ReadContext,
    SourceConfig,
    SourceKind,
    SourcePolicy,
)
from app.etl.sources.files.kinds import file_kind
from app.etl.sources.files.reader import FileReader
from app.etl.sources.registry import SourceKinds

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    greeting: str = "hello"


class EchoSource(SourceConfig):
    kind: Literal["echo"] = "echo"
    options: EchoOptions = Field(default_factory=EchoOptions)


def echo_check(uri: str, policy: SourcePolicy) -> Mapping[str, Any]:
    del policy
    if not uri.startswith("echo:"):
        raise SourceInvalid("an echo uri starts with echo:", path=["uri"])
    return {}


def echo_kind(**changes: Any) -> SourceKind[Any]:
    fields: dict[str, Any] = {
        "name": "echo",
        "config": EchoSource,
        "options": EchoOptions,
        "check": echo_check,
        "reader": FileReader,  # never opened here
    }
    return SourceKind(**{**fields, **changes})


def test_a_kind_is_parsed_into_its_own_model_by_its_own_check(tmp_path: Path) -> None:
    kinds = SourceKinds([echo_kind()])
    config = kinds.get("echo").parse("echo:x", {"greeting": "hi"}, SourcePolicy((tmp_path,)))
    assert config == EchoSource(uri="echo:x", options=EchoOptions(greeting="hi"))
    with pytest.raises(SourceInvalid) as raised:
        kinds.get("echo").parse("x", {}, SourcePolicy((tmp_path,)))
    assert raised.value.path == ["uri"]
    with pytest.raises(SourceInvalid) as raised:
        kinds.get("echo").parse("echo:x", {"shout": True}, SourcePolicy((tmp_path,)))
    assert raised.value.message == "options.shout: unknown option; echo options are: greeting"


def test_an_unknown_name_is_source_invalid_listing_the_registered_kinds() -> None:
    kinds = SourceKinds([echo_kind()])
    with pytest.raises(SourceInvalid) as raised:
        kinds.get("csv")
    assert raised.value.message == "unknown source kind 'csv'; known kinds: echo"
    assert raised.value.path == ["kind"]


def test_a_name_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'echo' is registered twice"):
        SourceKinds([echo_kind(), echo_kind()])


@pytest.mark.parametrize(
    "changes",
    [{"name": "other"}, {"options": CsvOptions}],
    ids=["name-differs-from-the-models-kind", "options-differ-from-the-models-options"],
)
def test_an_entry_must_agree_with_its_config_model(changes: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="EchoSource"):
        echo_kind(**changes)


def test_a_file_kind_must_agree_with_its_config_model_too() -> None:
    with pytest.raises(TypeError, match="CsvSource's options are not EchoOptions"):
        file_kind("csv", CsvSource, EchoOptions)  # type: ignore[arg-type]


def test_a_reader_is_only_opened_for_its_own_kind(tmp_path: Path) -> None:
    csv = SOURCE_KINDS.get("csv")
    http = HttpSource(uri="https://example.com/api")
    with pytest.raises(TypeError, match="not a csv source"):
        csv.open(http, ReadContext())
    config = csv.parse("data.csv", {}, SourcePolicy((tmp_path,)))
    assert isinstance(config, CsvSource)
