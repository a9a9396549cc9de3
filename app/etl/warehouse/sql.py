"""The SQL statements the warehouses build from identifiers to read tables back.

Identifiers cannot be bound as parameters, so they are spliced in: every name here has
passed a whitelist (tables) or a printable-text check (columns) and is quoted by
`quote_ident`, which is why the injection lint is silenced on these lines only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.etl.names import quote_ident

if TYPE_CHECKING:
    from collections.abc import Sequence


def select_from(table_sql: str, columns_sql: str = "*") -> str:
    """`table_sql` is an already quoted (possibly schema-qualified) table."""
    return f"SELECT {columns_sql} FROM {table_sql}"  # noqa: S608


def column_list(columns: Sequence[str]) -> str:
    return ", ".join(quote_ident(name) for name in columns)
