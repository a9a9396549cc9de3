"""The names a CSV header gives its columns: each must be a column a table can have."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

from app.errors import SourceMalformed

if TYPE_CHECKING:
    from app.etl.sources.files.options import CsvOptions

# The engine's own columns beside the data (source, line, reason) start with this.
RESERVED_PREFIX = "_dataflow_"


def check_header(header: bytes, options: CsvOptions) -> None:
    """Refuse a header column without a name, a name used twice (warehouses compare
    names without case: DuckDB would refuse `A` beside `a`, and Polars would rename the
    second `a` silently), or a name the engine keeps for itself; each named by position.
    """
    if not header:
        return
    names = _names(header, options)
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name.strip():
            _refuse(position, f"header column {position} has no name")
        if name.startswith(RESERVED_PREFIX):
            _refuse(
                position,
                f"header column {position} `{name}`: names starting with {RESERVED_PREFIX} "
                "are DataFlow's own",
            )
        first = seen.setdefault(name.casefold(), position)
        if first != position:
            _refuse(
                position,
                f"header column {position} `{name}` repeats column {first} "
                f"`{names[first - 1]}` (names are compared without case)",
            )


def _names(header: bytes, options: CsvOptions) -> list[str]:
    text = header.decode("utf-8", errors="replace").rstrip("\r\n")
    # One line, once per file: the csv module is fine here.
    reader = csv.reader(
        [text],
        delimiter=options.delimiter,
        quotechar=options.quote_char or '"',
        quoting=csv.QUOTE_MINIMAL if options.quote_char else csv.QUOTE_NONE,
    )
    try:
        return next(reader, [])
    except csv.Error:  # a bare carriage return: lines that end in \r alone
        raise SourceMalformed(
            "line 1: the header holds a carriage return that does not end the line; "
            "lines must end with \\n or \\r\\n",
            details={"line": 1},
        ) from None


def _refuse(position: int, message: str) -> None:
    raise SourceMalformed(f"line 1: {message}", details={"line": 1, "column_position": position})
