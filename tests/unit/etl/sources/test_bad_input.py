"""The bad-input corpus: each case reads, or fails with a typed error naming file and line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from app.errors import DataFlowError
from app.etl.sources import ROW_COLUMN, SOURCE_COLUMN
from tests.unit.etl.sources.readers import data_only, file_source, read_all

if TYPE_CHECKING:
    from app.etl.sources import SourceConfig

CORPUS = Path(__file__).parents[3] / "fixtures" / "sources"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    shutil.copytree(CORPUS, root)
    return root


def kind_of(name: str) -> str:
    return name.rsplit(".", 1)[1]


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("ragged.csv", "SOURCE_MALFORMED", "ragged.csv, line 3: expected 2 fields, found 3"),
        (
            "unterminated_quote.csv",
            "SOURCE_MALFORMED",
            "unterminated_quote.csv, line 3: a quoted field is never closed",
        ),
        ("not_utf8.csv", "SOURCE_MALFORMED", "not_utf8.csv, line 3: invalid UTF-8"),
        ("empty.csv", "SOURCE_MALFORMED", "empty.csv, the file is empty"),
        ("malformed.json", "SOURCE_MALFORMED", "malformed.json, line 2, column 24: invalid JSON"),
        ("malformed.ndjson", "SOURCE_MALFORMED", "malformed.ndjson, line 2: invalid JSON"),
        (
            "mixed_schemas/*.csv",
            "SOURCE_SCHEMA_MISMATCH",
            "mixed_schemas/part-2.csv: column `price` is String there but Int64 in "
            "mixed_schemas/part-1.csv",
        ),
    ],
)
async def test_a_bad_file_fails_with_its_code_file_and_line(
    corpus: Path, name: str, code: str, message: str
) -> None:
    config = file_source(kind_of(name), name, corpus)
    with pytest.raises(DataFlowError) as raised:
        await read_all(config)
    assert raised.value.code == code
    assert raised.value.message.startswith(message), raised.value.message


async def test_a_byte_order_mark_is_not_part_of_the_first_column(corpus: Path) -> None:
    frame = await read_all(file_source("csv", "bom.csv", corpus))
    assert data_only(frame).to_dict(as_series=False) == {"id": [1, 2], "name": ["a", "b"]}


async def test_crlf_line_ends_leave_no_carriage_return(corpus: Path) -> None:
    frame = await read_all(file_source("csv", "crlf.csv", corpus))
    assert data_only(frame).to_dict(as_series=False) == {"id": [1, 2], "name": ["a", "b"]}
    assert frame[ROW_COLUMN].to_list() == [2, 3]


async def test_bytes_that_are_not_utf8_read_with_lossy_encoding(corpus: Path) -> None:
    config = file_source("csv", "not_utf8.csv", corpus, encoding="utf8-lossy")
    frame = await read_all(config)
    assert frame["name"].to_list() == ["ok", "caf\ufffd"]


async def test_a_header_only_file_has_columns_and_no_rows(corpus: Path) -> None:
    frame = await read_all(file_source("csv", "header_only.csv", corpus))
    assert frame.height == 0
    assert frame.columns[:2] == ["id", "name"]


async def test_a_one_megabyte_field_is_read_whole(tmp_path: Path) -> None:
    big = "x" * (1024 * 1024)
    (tmp_path / "big.csv").write_text(f'id,text\n1,"{big}"\n2,small\n')
    frame = await read_all(file_source("csv", "big.csv", tmp_path), batch_rows=1)
    assert frame["text"].str.len_chars().to_list() == [1024 * 1024, 5]
    assert frame[ROW_COLUMN].to_list() == [2, 3]


@pytest.mark.parametrize("name", ["wrong_type.csv", "wrong_type.ndjson"])
async def test_wrong_types_arrive_as_text_for_the_contract_to_quarantine(
    corpus: Path, name: str
) -> None:
    # Inside the sample a mixed column is inferred as text: no row is lost and the
    # contract's cast rejects 'ten' with its location.
    frame = await read_all(file_source(kind_of(name), name, corpus))
    assert frame.schema["amount"] == pl.String
    assert frame["amount"].to_list() == ["10", "ten"]
    assert frame[SOURCE_COLUMN].to_list() == [name, name]


async def test_a_value_past_the_sample_that_does_not_fit_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.etl.sources.files import csv as csv_format

    monkeypatch.setattr(csv_format, "SAMPLE_BYTES", 64)
    rows = "".join(f"{i},{i * 10}\n" for i in range(1, 40))
    (tmp_path / "late.csv").write_text("id,amount\n" + rows + "40,ten\n")
    with pytest.raises(DataFlowError) as raised:
        await read_all(file_source("csv", "late.csv", tmp_path), batch_rows=5)
    assert raised.value.code == "SOURCE_MALFORMED"
    assert raised.value.message == "late.csv, line 41: column `amount` expected Int64, got 'ten'"


async def test_infer_types_false_reads_every_column_as_text(corpus: Path) -> None:
    config: SourceConfig = file_source("csv", "crlf.csv", corpus, infer_types=False)
    frame = await read_all(config)
    assert data_only(frame).schema == pl.Schema({"id": pl.String, "name": pl.String})
    assert frame["id"].to_list() == ["1", "2"]
