"""Counting a CSV block's fields per record (for short rows), and bounded reads."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, BinaryIO

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from app.etl.sources.files.csv import MAX_BLOCK, csv_frames
from app.etl.sources.files.csv_rows import field_counts
from app.etl.sources.files.options import CsvOptions
from app.etl.sources.reader import REASON_COLUMN

if TYPE_CHECKING:
    from collections.abc import Iterator

TEXT = st.text(alphabet=st.sampled_from(["a", ",", '"', "\n", "é", " ", ";"]), max_size=6)


def counts(data: bytes, **options: Any) -> list[int]:
    return field_counts(data, CsvOptions(**options)).to_list()


def test_quoted_separators_and_line_breaks_are_inside_their_field() -> None:
    data = b'1,"a,b",2\n2,"x\ny"\n3,"say ""hi"", ok",4\n\n5\r\n'
    assert counts(data) == [3, 2, 3, 0, 1]


def test_without_quoting_every_separator_counts() -> None:
    assert counts(b'1;"a;b"\n2', delimiter=";", quote_char=None) == [3, 1]


@settings(max_examples=200, deadline=None, database=None)
@given(records=st.lists(st.lists(TEXT, min_size=1, max_size=5), min_size=1, max_size=8))
def test_counts_agree_with_the_csv_module(records: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(records)
    data = buffer.getvalue().encode()
    expected = [len(record) for record in csv.reader(io.StringIO(buffer.getvalue()))]
    # The csv module writes one empty field as `""`, and reads a blank line as no field.
    assert counts(data) == expected


def test_short_rows_and_nul_bytes_carry_their_reason() -> None:
    data = b"id,name,amount\n1,a,1.5\n2,b\n3,c\x00d,2.5\n4,,\n"
    schema = pl.Schema({"id": pl.Int64(), "name": pl.String(), "amount": pl.Float64()})
    handle = io.BytesIO(data)
    frame = pl.concat(list(csv_frames(handle, CsvOptions(), schema, batch_rows=100)))
    assert frame.get_column(REASON_COLUMN).to_list() == [
        None,
        "expected 3 fields, got 2",
        "NUL byte in column `name`",
        None,  # empty fields are fields: null values, not missing ones
    ]


class RecordingReader(io.RawIOBase):
    """A file whose reads are recorded, to see how much the reader asks for at once."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.sizes: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        return self._data.read(size)


def frames_of(handle: BinaryIO, batch_rows: int) -> Iterator[pl.DataFrame]:
    schema = pl.Schema({"id": pl.Int64(), "text": pl.String()})
    return csv_frames(handle, CsvOptions(), schema, batch_rows)


def test_a_huge_field_does_not_size_the_next_read_from_its_width() -> None:
    big = b"x" * (10 * 1024 * 1024)
    rows = b"".join(b"%d,short\n" % i for i in range(3, 5000))
    handle = RecordingReader(b"id,text\n1,a\n2," + big + b"\n" + rows)
    frames = list(frames_of(handle, batch_rows=25_000))  # type: ignore[arg-type]
    assert sum(frame.height for frame in frames) == 4999
    assert max(handle.sizes) <= MAX_BLOCK
