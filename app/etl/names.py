"""Which names may become SQL identifiers, and how they are quoted."""

from __future__ import annotations

import re
import unicodedata

# Table names are user text that becomes an identifier: a strict whitelist, lower case
# so PostgreSQL and DuckDB agree on the name whatever the client's quoting habits.
TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Derived columns are named in the spec; upper case is allowed, they are always quoted.
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# PostgreSQL silently truncates longer identifiers, which could merge two columns.
MAX_IDENTIFIER_BYTES = 63

TABLE_NAME_RULE = "use 1-63 lower-case letters, digits and underscores, not starting with a digit"
COLUMN_NAME_RULE = "use 1-63 letters, digits and underscores, not starting with a digit"


def is_table_name(name: str) -> bool:
    return TABLE_NAME.fullmatch(name) is not None


def is_column_name(name: str) -> bool:
    return COLUMN_NAME.fullmatch(name) is not None


def column_name_problem(name: str) -> str | None:
    """Why a source column name cannot be stored, or None when it can.

    Source headers are data, not spec: any printable text is kept (quoted), but control
    characters and names PostgreSQL would truncate are refused.
    """
    if not name:
        return "a column name is empty"
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        return f"column name {name!r} is longer than {MAX_IDENTIFIER_BYTES} bytes"
    if any(unicodedata.category(char).startswith("C") for char in name):
        return f"column name {name!r} contains a control character"
    return None


def quote_ident(name: str) -> str:
    """Quote an identifier for PostgreSQL and DuckDB (both double embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"
