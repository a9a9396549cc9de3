"""Reading CSV files in bounded batches, and saying which line is wrong when one is.

Read through `open_reader`, as the engine does; errors name the file, then the line.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from app.errors import SourceInvalid, SourceMalformed, SourceUnreadable
from app.etl.sources import CsvSource, ReadContext, open_reader, parse_source
from app.etl.sources.files import csv as csv_format
from app.etl.sources.policy import SourcePolicy
from tests.unit.etl.sources.readers import data_only, read_batches

if TYPE_CHECKING:
    from pathlib import Path

    from app.etl.sources import SourceConfig


def source(path: Path, **options: Any) -> CsvSource:
    config = parse_source("csv", str(path), options, SourcePolicy((path.parent,)))
    assert isinstance(config, CsvSource)
    return config


def read_csv(config: SourceConfig, batch_rows: int) -> list[pl.DataFrame]:
    """The file's batches (data columns only), read to the end."""
    _, batches = asyncio.run(read_batches(config, batch_rows=batch_rows))
    return [data_only(batch) for batch in batches]


def read_schema(config: SourceConfig) -> pl.Schema:
    schema, _ = asyncio.run(read_batches(config))
    return schema


@pytest.fixture
def small_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Types come from the first record only, so a later bad row is met while streaming."""
    monkeypatch.setattr(csv_format, "SAMPLE_BYTES", 16)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def tricky_frame(rows: int) -> pl.DataFrame:
    """Values that stress a CSV reader: separators, quotes and line breaks inside fields."""
    texts = ["plain", 'say "hi"', "a,b", "two\nlines", "", None, "ünïcode", "x\r\ny"]
    return pl.DataFrame(
        {
            "id": list(range(rows)),
            "text": [texts[i % len(texts)] for i in range(rows)],
            "amount": [None if i % 7 == 0 else i * 0.25 for i in range(rows)],
            "day": [date(2024, 1, 1 + i % 28) for i in range(rows)],
        },
        schema={"id": pl.Int64, "text": pl.String, "amount": pl.Float64, "day": pl.Date},
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def test_batches_cover_the_file_exactly(tmp_path: Path) -> None:
    frame = tricky_frame(1_000)
    config = source(write(tmp_path / "data.csv", csv_bytes(frame)))
    batches = read_csv(config, batch_rows=97)
    assert len(batches) > 5
    assert all(0 < batch.height <= 97 for batch in batches)
    assert_frame_equal(pl.concat(batches), frame)


@settings(max_examples=30, deadline=None, database=None)
@given(rows=st.integers(0, 400), batch_rows=st.integers(1, 500))
def test_any_batch_size_round_trips(
    tmp_path_factory: pytest.TempPathFactory, rows: int, batch_rows: int
) -> None:
    frame = tricky_frame(rows)
    path = write(tmp_path_factory.mktemp("csv") / "data.csv", csv_bytes(frame))
    config = source(path)
    batches = read_csv(config, batch_rows)
    assert all(0 < batch.height <= batch_rows for batch in batches)
    # Types are inferred: a column with no value in a small file is read as String.
    result = pl.concat(batches) if batches else pl.DataFrame(schema=frame.schema)
    assert_frame_equal(result.cast(frame.schema), frame)


def test_a_ragged_row_in_the_sample_fails_the_schema_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "ragged.csv", "a,b\n1,2\n3,4,5\n")
    with pytest.raises(SourceMalformed) as raised:
        read_schema(source(path))
    assert raised.value.message == "ragged.csv, line 3: expected 2 fields, found 3"


def test_the_schema_comes_from_the_header_and_a_sample(tmp_path: Path) -> None:
    path = write(
        tmp_path / "orders.csv",
        "order_id,order_ts,day,paid_at,status,price,ok\n"
        "1,2024-01-02T10:30:37,2024-01-02,2024-01-02T10:30:37+01:00,paid,1.5,true\n"
        "2,2024-01-03T11:00:00,2024-01-03,2024-01-03T00:00:00Z,,2,false\n",
    )
    schema = read_schema(source(path))
    assert schema == pl.Schema(
        {
            "order_id": pl.Int64(),
            "order_ts": pl.Datetime("us"),
            "day": pl.Date(),
            "paid_at": pl.Datetime("us", "UTC"),
            "status": pl.String(),
            "price": pl.Float64(),
            "ok": pl.Boolean(),
        }
    )
    (batch,) = read_csv(source(path), 10)
    assert batch["paid_at"].to_list() == [
        datetime(2024, 1, 2, 9, 30, 37, tzinfo=UTC),
        datetime(2024, 1, 3, tzinfo=UTC),
    ]
    assert batch["status"].to_list() == ["paid", None]


def test_a_ragged_row_names_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ragged.csv",
        "a,b,c,d,e\n1,2,3,4,5\n1,2,3,4,5\n1,2,3,4,5,6,7\n1,2,3,4,5\n",
    )
    with pytest.raises(SourceMalformed) as raised:
        read_csv(source(path), 10)
    assert raised.value.code == "SOURCE_MALFORMED"
    assert raised.value.message == "ragged.csv, line 4: expected 5 fields, found 7"


@pytest.mark.usefixtures("small_sample")
async def test_a_ragged_row_in_a_later_batch_names_its_line(tmp_path: Path) -> None:
    lines = [f"{i},name {i},{i * 2}" for i in range(2_000)]
    lines[1_500] = "1500,name,3000,surplus"
    path = write(tmp_path / "late.csv", "id,name,double\n" + "\n".join(lines) + "\n")
    reader = open_reader(source(path), ReadContext())
    try:
        # Only the start is sampled, as the engine's reads do for big files.
        assert await reader.schema() == pl.Schema(
            {"id": pl.Int64, "name": pl.String, "double": pl.Int64}
        )
        batches = reader.batches(50)
        assert (await anext(batches)).height <= 50  # the first batches are fine
        with pytest.raises(SourceMalformed) as raised:
            async for _ in batches:
                pass
    finally:
        await reader.aclose()
    assert raised.value.message == "late.csv, line 1502: expected 3 fields, found 4"


@pytest.mark.usefixtures("small_sample")
def test_line_numbers_count_line_breaks_inside_quoted_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path / "multiline.csv",
        'a,b,c\n1,"x\ny",3\n2,"q",4\n3,z,5\n4,"multi\nline\nvalue",oops\n',
    )
    with pytest.raises(SourceMalformed) as raised:
        read_csv(source(path), 10)
    assert raised.value.message == "multiline.csv, line 6: column `c` expected Int64, got 'oops'"


def test_an_unterminated_quote_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "quote.csv", 'a,b,c\n1,2,3\n4,"never closed,6\n7,8,9\n')
    with pytest.raises(SourceMalformed) as raised:
        read_csv(source(path), 10)
    assert raised.value.message.startswith("quote.csv, line 3: a quoted field is never closed")


@pytest.mark.usefixtures("small_sample")
def test_a_value_of_the_wrong_type_names_line_column_and_value(tmp_path: Path) -> None:
    body = "".join(f"{i},{i}\n" for i in range(300))
    path = write(tmp_path / "typed.csv", "a,b\n" + body + "n/a,7\n")
    with pytest.raises(SourceMalformed) as raised:
        read_csv(source(path), 100)
    assert raised.value.message == "typed.csv, line 302: column `a` expected Int64, got 'n/a'"


@pytest.mark.usefixtures("small_sample")
def test_a_bad_timestamp_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "ts.csv", "at\n2024-01-01T00:00:00\n2024-13-45T99:00:00\n")
    with pytest.raises(SourceMalformed) as raised:
        read_csv(source(path), 10)
    assert raised.value.message.startswith("ts.csv, line 3: column `at`")


def test_invalid_utf8_names_its_line_unless_lossy_is_asked(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.csv", b"name,n\nok,1\ncaf\xe9,2\n")
    with pytest.raises(SourceMalformed) as raised:
        read_csv(source(path), 10)
    assert raised.value.message.startswith("latin1.csv, line 3: invalid UTF-8")
    (batch,) = read_csv(source(path, encoding="utf8-lossy"), 10)
    assert batch["name"].to_list() == ["ok", "caf\ufffd"]


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    config = source(tmp_path / "nowhere.csv")
    with pytest.raises(SourceUnreadable) as raised:
        read_schema(config)
    assert raised.value.code == "SOURCE_NO_FILES"  # a kind of SOURCE_UNREADABLE


def test_an_empty_file_has_no_header(tmp_path: Path) -> None:
    with pytest.raises(SourceMalformed):
        read_schema(source(write(tmp_path / "empty.csv", "")))


def test_a_header_only_file_has_columns_and_no_batches(tmp_path: Path) -> None:
    config = source(write(tmp_path / "header.csv", "a,b\n"))
    assert read_schema(config).names() == ["a", "b"]
    assert read_csv(config, 10) == []


def test_options_delimiter_header_nulls_and_no_quoting(tmp_path: Path) -> None:
    path = write(tmp_path / "semi.csv", '1;"quoted";NA\n2;plain;3.5\n')
    config = source(path, delimiter=";", header=False, null_values=["NA"], quote_char=None)
    (batch,) = read_csv(config, 10)
    assert batch.to_dict(as_series=False) == {
        "column_0": [1, 2],
        "column_1": ['"quoted"', "plain"],
        "column_2": [None, 3.5],
    }


def test_crlf_line_ends_and_a_byte_order_mark_are_handled(tmp_path: Path) -> None:
    path = write(tmp_path / "windows.csv", b"\xef\xbb\xbfid,name\r\n1,a\r\n2,b\r\n")
    (batch,) = read_csv(source(path), 10)
    assert batch.to_dict(as_series=False) == {"id": [1, 2], "name": ["a", "b"]}


def test_a_file_swapped_for_a_link_after_parsing_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    config = source(write(root / "data.csv", "a\n1\n"))
    write(outside / "secret.csv", "a\n42\n")
    config.path.unlink()
    config.path.symlink_to(outside / "secret.csv")
    with pytest.raises(SourceInvalid):
        read_csv(config, 10)
