"""Cutting CSV bytes into blocks of whole records, whatever the block size."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import SourceMalformed
from app.etl.sources.files import csv_chunks
from app.etl.sources.files.csv_chunks import iter_chunks, record_boundary

field = st.text(alphabet='ab,"\n\r ', max_size=6).map(
    lambda text: '"' + text.replace('"', '""') + '"'
)
plain = st.text(alphabet="xyz01 ", max_size=5)
records = st.lists(st.lists(st.one_of(field, plain), min_size=1, max_size=4), max_size=30)


def to_csv(rows: list[list[str]]) -> bytes:
    return "".join(",".join(row) + "\n" for row in rows).encode()


@settings(max_examples=200, deadline=None, database=None)
@given(rows=records, block=st.integers(1, 64))
def test_chunks_are_whole_records_that_rebuild_the_input(rows: list[list[str]], block: int) -> None:
    data = to_csv(rows)
    chunks = list(
        iter_chunks(io.BytesIO(data), quote=b'"', first_line=1, block_bytes=lambda: block)
    )
    assert b"".join(chunk.data for chunk in chunks) == data
    line = 1
    for chunk in chunks:
        assert chunk.data.endswith(b"\n")
        assert chunk.data.count(b'"') % 2 == 0  # no chunk ends inside a quoted field
        assert chunk.first_line == line
        line += chunk.data.count(b"\n")


def test_the_last_record_may_lack_a_line_break() -> None:
    chunks = list(
        iter_chunks(io.BytesIO(b"1,2\n3,4"), quote=b'"', first_line=2, block_bytes=lambda: 3)
    )
    assert [(chunk.data, chunk.first_line) for chunk in chunks] == [(b"1,2\n", 2), (b"3,4", 3)]


def test_without_quoting_every_line_break_ends_a_record() -> None:
    assert record_boundary(b'a,"b\nc', None) == 5
    assert record_boundary(b'a,"b\nc', b'"') == 0


def test_an_unterminated_quote_at_the_end_names_its_line() -> None:
    data = b'1,ok\n2,"still open\n3,more\n'
    with pytest.raises(SourceMalformed) as raised:
        list(iter_chunks(io.BytesIO(data), quote=b'"', first_line=2, block_bytes=lambda: 1024))
    assert raised.value.message.startswith("line 3: a quoted field is never closed")


def test_a_runaway_quote_stops_before_it_fills_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_chunks, "MAX_RECORD_BYTES", 100)
    data = b'1,"open\n' + b"x,y\n" * 200
    with pytest.raises(SourceMalformed) as raised:
        list(iter_chunks(io.BytesIO(data), quote=b'"', first_line=1, block_bytes=lambda: 16))
    assert raised.value.message.startswith("line 1: a quoted field is never closed")
