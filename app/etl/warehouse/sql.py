"""The few SQL statements the warehouses build from identifiers.

Identifiers cannot be bound as parameters, so they are spliced in: every name here has
passed a whitelist (tables) or a printable-text check (columns) and is quoted by
`quote_ident`, which is why the injection lint is silenced on these lines only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.etl.names import quote_ident

if TYPE_CHECKING:
    from collections.abc import Iterable


def column_list(columns: Iterable[str]) -> str:
    return ", ".join(quote_ident(name) for name in columns)


def select_from(table_sql: str, columns_sql: str = "*") -> str:
    """`table_sql` is an already quoted (possibly schema-qualified) table."""
    return f"SELECT {columns_sql} FROM {table_sql}"  # noqa: S608


def insert_select(target_sql: str, columns: Iterable[str], source_sql: str) -> str:
    names = column_list(columns)
    return f"INSERT INTO {target_sql} ({names}) SELECT {names} FROM {source_sql}"  # noqa: S608


def create_empty_like(target_sql: str, source_sql: str) -> str:
    return f"CREATE TABLE {target_sql} AS {select_from(source_sql)} LIMIT 0"


def delete_all(table_sql: str) -> str:
    return f"DELETE FROM {table_sql}"  # noqa: S608
