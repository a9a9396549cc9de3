"""Cutting a CSV byte stream into blocks of whole records, tracking line numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from app.errors import SourceMalformed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# A record without an end this long is a quote that never closes; stop before it eats RAM.
MAX_RECORD_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole CSV records as bytes; `first_line` is the 1-based line of the first one."""

    data: bytes
    first_line: int

    @property
    def last_line(self) -> int:
        return self.first_line + max(self.data.count(b"\n") - 1, 0)


def record_boundary(data: bytes, quote: bytes | None) -> int:
    """Offset just past the last line break that ends a record (0 when none does).

    A line break ends a record when an even number of quote characters precede it: RFC
    4180 escapes a quote by doubling it, so parity tells inside from outside a field.
    """
    cut = data.rfind(b"\n") + 1
    if quote is None:
        return cut
    quotes = data.count(quote, 0, cut)
    while cut > 0 and quotes % 2:
        previous = data.rfind(b"\n", 0, cut - 1) + 1
        quotes -= data.count(quote, previous, cut)
        cut = previous
    return cut


def unterminated_quote_line(data: bytes, quote: bytes, first_line: int) -> int:
    """The line of the quote that opens a field and never closes (error path only)."""
    position = data.find(quote)
    opening = position
    while position != -1:
        opening = position
        closing = data.find(quote, position + 1)
        if closing == -1:
            break
        position = data.find(quote, closing + 1)
    return first_line + data.count(b"\n", 0, opening)


def iter_chunks(
    handle: BinaryIO,
    *,
    quote: bytes | None,
    first_line: int,
    block_bytes: Callable[[], int],
) -> Iterator[Chunk]:
    """Read `handle` in blocks of about `block_bytes()` and yield whole records only."""
    pending = b""
    line = first_line
    # While a record is unfinished, read at least as much again: a long record takes a
    # few reads, not one per block (each re-joins what is pending).
    while block := handle.read(max(block_bytes(), len(pending))):
        data = pending + block if pending else block
        cut = record_boundary(data, quote)
        if cut == 0:
            _check_record_size(data, quote, line)
            pending = data
            continue
        chunk, pending = Chunk(data[:cut], line), data[cut:]
        line += chunk.data.count(b"\n")
        yield chunk
    if pending:
        if quote is not None and pending.count(quote) % 2:
            _raise_unterminated(pending, quote, line)
        yield Chunk(pending, line)


def _check_record_size(data: bytes, quote: bytes | None, line: int) -> None:
    if len(data) <= MAX_RECORD_BYTES:
        return
    if quote is not None and data.count(quote) % 2:
        _raise_unterminated(data, quote, line)
    raise SourceMalformed(f"line {line}: a record is longer than {MAX_RECORD_BYTES} bytes")


def _raise_unterminated(data: bytes, quote: bytes, line: int) -> None:
    where = unterminated_quote_line(data, quote, line)
    raise SourceMalformed(
        f"line {where}: a quoted field is never closed (unterminated {quote.decode()} quote)",
        details={"line": where},
    )
