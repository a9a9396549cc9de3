"""SQL sources against the real PostgreSQL: a server-side cursor, bound params, read only."""

# The queries name the fixture's own tables; what these tests check is that *values* are
# bound, never spliced.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import polars as pl
import pytest

from app.errors import DataFlowError
from app.etl.sources import (
    ROW_COLUMN,
    SOURCE_COLUMN,
    ReadContext,
    SqlSource,
    Watermark,
    parse_source,
)
from app.etl.sources.policy import SourcePolicy
from app.etl.sources.preview import preview_source
from tests.unit.etl.sources.readers import data_only, read_all, read_batches

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.integration

ROWS = 2_500


@pytest.fixture
async def orders(pg_url: str) -> AsyncIterator[str]:
    """A schema holding `orders` (ROWS rows); yields the schema-qualified table name."""
    schema = f"sources_{uuid.uuid4().hex[:10]}"
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"""
            CREATE SCHEMA {schema};
            CREATE TABLE {schema}.orders AS
            SELECT n::int8 AS id,
                   'name ' || n AS name,
                   (n * 1.25)::numeric(10, 2) AS amount,
                   timestamptz '2026-01-01 00:00:00+00' + n * interval '1 minute' AS created,
                   n % 2 = 0 AS even,
                   ARRAY['a', 'b'] AS tags
            FROM generate_series(1, {ROWS}) AS n;
            CREATE FUNCTION {schema}.orders_wipe() RETURNS bigint
                AS 'DELETE FROM {schema}.orders RETURNING 1' LANGUAGE sql;
        """)
        yield f"{schema}.orders"
    finally:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await connection.close()


def sql(pg_url: str, tmp_path: Path, query: str, **options: Any) -> SqlSource:
    policy = SourcePolicy((tmp_path,), allow_private_networks=True)  # the test server is local
    config = parse_source("sql", pg_url, {"query": query, **options}, policy)
    assert isinstance(config, SqlSource)
    return config


async def test_a_table_streams_in_batches_through_a_cursor(
    pg_url: str, orders: str, tmp_path: Path
) -> None:
    config = sql(pg_url, tmp_path, f"SELECT * FROM {orders} ORDER BY id")
    schema, batches = await read_batches(config, batch_rows=1_000)
    assert [batch.height for batch in batches] == [1_000, 1_000, 500]
    assert schema == pl.Schema(
        {
            "id": pl.Int64(),
            "name": pl.String(),
            "amount": pl.String(),  # numeric is exact text: no digit is rounded away
            "created": pl.Datetime("us", "UTC"),
            "even": pl.Boolean(),
            "tags": pl.String(),
        }
    )
    frame = pl.concat(batches)
    assert frame["id"].to_list() == list(range(1, ROWS + 1))
    assert frame.row(0) == (
        1,
        "name 1",
        "1.25",
        datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
        False,
        "{a,b}",
        "query",
        1,
    )
    assert frame[ROW_COLUMN].to_list() == list(range(1, ROWS + 1))
    assert frame[SOURCE_COLUMN].unique().to_list() == ["query"]


async def test_params_are_bound_and_run_params_fill_them(
    pg_url: str, orders: str, tmp_path: Path
) -> None:
    query = f"SELECT id FROM {orders} WHERE id > $1 AND created < $2 AND even = $3 ORDER BY id"
    config = sql(pg_url, tmp_path, query, params=[10, "{until}", True])
    context = ReadContext(params={"until": "2026-01-01T00:20:00+00:00"})
    frame = await read_all(config, context)
    assert frame["id"].to_list() == [12, 14, 16, 18]


async def test_an_injection_attempt_in_a_param_is_only_data(
    pg_url: str, orders: str, tmp_path: Path
) -> None:
    attack = f"x'; DROP TABLE {orders}; --"
    config = sql(pg_url, tmp_path, f"SELECT id FROM {orders} WHERE name = $1", params=[attack])
    frame = await read_all(config)
    assert frame.height == 0
    still_there = await read_all(sql(pg_url, tmp_path, f"SELECT count(*) AS n FROM {orders}"))
    assert still_there["n"].to_list() == [ROWS]


async def test_the_watermark_is_pushed_down_as_a_bound_predicate(
    pg_url: str, orders: str, tmp_path: Path
) -> None:
    config = sql(pg_url, tmp_path, f"SELECT id, created FROM {orders} ORDER BY id;")
    since = datetime(2026, 1, 1, 0, 0, tzinfo=UTC).replace(hour=1, minute=40)  # id 100
    frame = await read_all(config, ReadContext(watermark=Watermark("created", since)))
    assert frame["id"].to_list() == list(range(101, ROWS + 1))
    by_text = ReadContext(watermark=Watermark("id", "2497"))
    assert (await read_all(config, by_text))["id"].to_list() == [2498, 2499, 2500]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM {orders} RETURNING id", "must be one SELECT"),
        ("/* hi */ update {orders} SET id = 0", "must be one SELECT"),
        ("WITH gone AS (DELETE FROM {orders} RETURNING id) SELECT * FROM gone", "data-modifying"),
        ("SELECT {orders}_wipe() AS gone", "an sql source only reads"),
        ("SELECT 1 AS a; DROP TABLE {orders}", "cannot insert multiple commands"),
        ("SELECT id, id FROM {orders}", "returns column `id` twice"),
        ("SELECT * FROM no_such_table", 'relation "no_such_table" does not exist'),
    ],
)
async def test_queries_that_write_or_do_not_fit_are_refused(
    pg_url: str, orders: str, tmp_path: Path, query: str, message: str
) -> None:
    with pytest.raises(DataFlowError) as raised:
        await read_all(sql(pg_url, tmp_path, query.format(orders=orders)))
    assert raised.value.code == "SOURCE_INVALID"
    assert message in raised.value.message
    count = await read_all(sql(pg_url, tmp_path, f"SELECT count(*) AS n FROM {orders}"))
    assert count["n"].to_list() == [ROWS]


async def test_a_param_count_or_value_that_does_not_fit_is_named(
    pg_url: str, orders: str, tmp_path: Path
) -> None:
    query = f"SELECT id FROM {orders} WHERE id = $1"
    with pytest.raises(DataFlowError) as raised:
        await read_all(sql(pg_url, tmp_path, query))
    assert raised.value.message == "the query has 1 parameter(s) ($1...) but options.params has 0"
    with pytest.raises(DataFlowError) as raised:
        await read_all(sql(pg_url, tmp_path, query, params=["ten"]))
    assert raised.value.message == "options.params.0: 'ten' is not a valid int8"


async def test_preview_fetches_the_first_rows(pg_url: str, orders: str, tmp_path: Path) -> None:
    config = sql(pg_url, tmp_path, f"SELECT id, name FROM {orders} ORDER BY id")
    frame = await preview_source(config, ReadContext(), 3)
    assert data_only(frame).to_dict(as_series=False) == {
        "id": [1, 2, 3],
        "name": ["name 1", "name 2", "name 3"],
    }


def test_the_default_policy_refuses_a_local_database(pg_url: str, tmp_path: Path) -> None:
    with pytest.raises(DataFlowError) as raised:
        parse_source("sql", pg_url, {"query": "SELECT 1"}, SourcePolicy((tmp_path,)))
    assert raised.value.code == "SOURCE_ADDRESS_REFUSED"


def test_a_password_in_the_dsn_is_refused(tmp_path: Path) -> None:
    policy = SourcePolicy((tmp_path,), allow_private_networks=True)
    with pytest.raises(DataFlowError) as raised:
        parse_source(
            "sql", "postgresql://u:hunter2@db.example.com/x", {"query": "SELECT 1"}, policy
        )
    assert raised.value.code == "SOURCE_INVALID"
    assert "hunter2" not in raised.value.message
