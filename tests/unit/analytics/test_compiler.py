"""The compiler's statements: shape, bound values, refusals (run by other tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from app.analytics.compiler import POSTGRES_SQL, Relation, compile_query
from app.analytics.errors import OutOfScope, QueryInvalid
from app.analytics.filters import escape_like
from app.analytics.members import DatasetInfo, Member, Stats
from app.analytics.query import (
    Condition,
    Granularity,
    Group,
    Operator,
    OrderBy,
    Query,
    TimeDimension,
)

MEMBERS = [
    Member("order_ts", "time", "time", "order_ts", "TIMESTAMP"),
    Member("country", "dimension", "string", "country", "VARCHAR"),
    Member("quantity", "dimension", "number", "quantity", "BIGINT"),
    Member("paid", "dimension", "boolean", "paid", "BOOLEAN"),
    Member("revenue", "measure", "number", "revenue", "DOUBLE", "sum"),
    Member("orders", "measure", "number", None, "", "count"),
    Member("buyers", "measure", "number", "customer_id", "BIGINT", "count_distinct"),
]
STATS = Stats(
    row_count=1_000_000,
    cardinalities={"country": 12, "quantity": 10, "paid": 2},
    time_min=datetime(2024, 1, 1),
    time_max=datetime(2024, 12, 31, 23),
)
ORDERS = DatasetInfo(
    name="orders",
    table="orders",
    version=3,
    members={m.name: m for m in MEMBERS},
    stats=STATS,
    replica_uri=None,
    loaded_at=datetime.now(UTC),
)
TABLE = Relation(table=("orders",))


def compiled(**fields: Any) -> Any:
    return compile_query(Query(dataset="orders", **fields), ORDERS, relation=TABLE)


def test_a_dashboard_query_is_one_statement_with_every_value_bound() -> None:
    result = compiled(
        measures=("revenue", "orders"),
        dimensions=("country",),
        time_dimension=TimeDimension(
            "order_ts", Granularity.MONTH, datetime(2024, 3, 1), datetime(2024, 6, 1)
        ),
        filters=(Condition("paid", Operator.EQUALS, (True,)),),
        limit=100,
        timezone="Europe/Berlin",
    )
    # Naive timestamps are UTC; Berlin wall time is UTC plus the offset of the day, and
    # the offset changes once in this range (summer time starts 2024-03-31 01:00 UTC).
    # Months are grouped by their calendar parts, the bucket built once per group.
    local = (
        '("order_ts" + CASE WHEN "order_ts" < $3 THEN CAST($4 AS INTERVAL) '
        "ELSE CAST($5 AS INTERVAL) END)"
    )
    year, month = f"extract(year FROM {local})", f"extract(month FROM {local})"
    # The expected text, not a statement being built:
    expected = (
        f"SELECT CAST(make_date(CAST({year} AS INTEGER), CAST({month} AS INTEGER), 1) "  # noqa: S608
        'AS TIMESTAMP) AS "order_ts.month", "country" AS "country", '
        'sum("revenue") AS "revenue", count(*) AS "orders" FROM "orders" '
        'WHERE "order_ts" >= $1 AND "order_ts" < $2 AND "paid" = $6 '
        f"GROUP BY {year}, {month}, 2 "
        "ORDER BY 1 ASC NULLS LAST, 2 ASC NULLS LAST LIMIT $7 OFFSET $8"
    )
    assert result.sql == expected
    # Berlin midnight is 23:00 UTC the day before (22:00 in summer).
    assert result.params == (
        datetime(2024, 2, 29, 23),
        datetime(2024, 5, 31, 22),
        datetime(2024, 3, 31, 1),
        timedelta(hours=1),
        timedelta(hours=2),
        True,
        100,
        0,
    )
    assert [(c.name, c.type) for c in result.columns] == [
        ("order_ts.month", "time"),
        ("country", "string"),
        ("revenue", "number"),
        ("orders", "number"),
    ]
    assert result.groups == 4 * 13


def test_utc_needs_no_conversion_and_measures_alone_need_no_grouping() -> None:
    result = compiled(measures=("buyers",))
    assert result.sql == (
        'SELECT count(DISTINCT "customer_id") AS "buyers" FROM "orders" '
        "ORDER BY 1 DESC NULLS LAST LIMIT $1 OFFSET $2"
    )
    assert result.params == (10_000, 0)
    day = compiled(measures=("orders",), time_dimension=TimeDimension("order_ts", Granularity.DAY))
    assert 'SELECT CAST(CAST("order_ts" AS DATE) AS TIMESTAMP) AS "order_ts.day"' in day.sql
    assert 'GROUP BY CAST("order_ts" AS DATE) ' in day.sql
    hour = compiled(
        measures=("orders",), time_dimension=TimeDimension("order_ts", Granularity.HOUR)
    )
    assert "SELECT date_trunc('hour', \"order_ts\")" in hour.sql
    assert "GROUP BY 1 " in hour.sql


def test_a_zoned_column_is_compared_in_utc_and_shown_in_the_query_zone() -> None:
    zoned = Member("order_ts", "time", "time", "order_ts", "TIMESTAMP WITH TIME ZONE")
    dataset = DatasetInfo(**_with_member(zoned))
    result = compile_query(
        Query(
            dataset="orders",
            measures=("orders",),
            time_dimension=TimeDimension("order_ts", Granularity.DAY, datetime(2024, 1, 1)),
        ),
        dataset,
        relation=TABLE,
    )
    assert 'CAST(CAST(timezone($2, "order_ts") AS DATE) AS TIMESTAMP)' in result.sql
    assert result.params[:2] == (datetime(2024, 1, 1, tzinfo=UTC), "UTC")


def _with_member(member: Member) -> dict[str, Any]:
    members = {**ORDERS.members, member.name: member}
    return {
        "name": "orders",
        "table": "orders",
        "version": 1,
        "members": members,
        "stats": STATS,
        "replica_uri": None,
        "loaded_at": ORDERS.loaded_at,
    }


def test_a_date_column_is_bounded_by_whole_days() -> None:
    day = Member("order_ts", "time", "time", "order_ts", "DATE")
    result = compile_query(
        Query(
            dataset="orders",
            measures=("orders",),
            time_dimension=TimeDimension(
                "order_ts", None, datetime(2024, 1, 1), datetime(2024, 1, 31, 12)
            ),
        ),
        DatasetInfo(**_with_member(day)),
        relation=TABLE,
    )
    assert result.params[:2] == (date(2024, 1, 1), date(2024, 2, 1))


def test_the_replica_is_read_through_a_bound_path() -> None:
    result = compile_query(
        Query(dataset="orders", measures=("orders",)),
        ORDERS,
        relation=Relation(parquet="/data/replica/orders/x'; DROP.parquet"),
    )
    assert "FROM read_parquet($1)" in result.sql
    assert result.params[0] == "/data/replica/orders/x'; DROP.parquet"


def test_filters_nest_and_measures_go_to_having() -> None:
    result = compiled(
        measures=("revenue",),
        dimensions=("country",),
        filters=(
            Group(
                "or",
                (
                    Condition("country", Operator.STARTS_WITH, ("D", "F")),
                    Group(
                        "and",
                        (
                            Condition("quantity", Operator.GTE, (3,)),
                            Condition("country", Operator.NOT_SET),
                        ),
                    ),
                ),
            ),
            Condition("revenue", Operator.GT, (100.5,)),
            Condition("country", Operator.NOT_IN, ("US", "GB")),
        ),
        order=(OrderBy("revenue", descending=True),),
    )
    assert (
        "WHERE ((\"country\" ILIKE $1 ESCAPE '\\' OR \"country\" ILIKE $2 ESCAPE '\\') OR "
        '("quantity" >= $3 AND "country" IS NULL)) AND '
        '("country" NOT IN ($5, $6) OR "country" IS NULL) '
        'GROUP BY 1 HAVING sum("revenue") > $4 '
        "ORDER BY 2 DESC NULLS LAST, 1 ASC NULLS LAST"
    ) in result.sql
    assert result.params[:6] == ("D%", "F%", 3, 100.5, "US", "GB")
    assert result.groups == 13 * 1  # nothing pins country: all of them


def test_equals_filters_and_scope_narrow_the_group_estimate() -> None:
    result = compile_query(
        Query(
            dataset="orders",
            measures=("orders",),
            dimensions=("country", "quantity"),
            time_dimension=TimeDimension("order_ts", Granularity.DAY),
            filters=(Condition("quantity", Operator.IN, (1, 2)),),
        ),
        ORDERS,
        relation=TABLE,
        scope=(("country", ("DE",)),),
    )
    assert result.groups == 367 * 1 * 2
    assert result.sql.index('"country" = $1') < result.sql.index('"quantity" IN')


def test_like_wildcards_in_values_are_escaped() -> None:
    assert escape_like("50%_off\\") == "50\\%\\_off\\\\"
    result = compiled(
        measures=("orders",), filters=(Condition("country", Operator.CONTAINS, ("50%",)),)
    )
    assert result.params[0] == "%50\\%%"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"measures": ("nope",)}, ["measures", "0"]),
        ({"measures": ("country",)}, ["measures", "0"]),
        ({"dimensions": ("orders",)}, ["dimensions", "0"]),
        ({"dimensions": ("order_ts",)}, ["dimensions", "0"]),
        ({"measures": ("orders",), "order": (OrderBy("country"),)}, ["order", "0", "member"]),
        (
            {"time_dimension": TimeDimension("country", Granularity.DAY)},
            ["timeDimension", "member"],
        ),
        (
            {"measures": ("orders",), "filters": (Condition("quantity", Operator.GT, (1, 2)),)},
            ["filters", "0", "values"],
        ),
        (
            {"measures": ("orders",), "filters": (Condition("country", Operator.SET, ("x",)),)},
            ["filters", "0", "values"],
        ),
        (
            {
                "measures": ("orders",),
                "filters": (Condition("quantity", Operator.CONTAINS, ("1",)),),
            },
            ["filters", "0", "values"],
        ),
        (
            {"measures": ("orders",), "filters": (Condition("quantity", Operator.EQUALS, ("1",)),)},
            ["filters", "0", "values"],
        ),
        (
            {"measures": ("orders",), "filters": (Condition("paid", Operator.EQUALS, (1,)),)},
            ["filters", "0", "values"],
        ),
        (
            {"measures": ("orders",), "filters": (Condition("order_ts", Operator.GT, ("soon",)),)},
            ["filters", "0", "values"],
        ),
        (
            {
                "measures": ("orders",),
                "filters": (
                    Group(
                        "or",
                        (
                            Condition("orders", Operator.GT, (1,)),
                            Condition("country", Operator.SET),
                        ),
                    ),
                ),
            },
            ["filters", "0"],
        ),
        ({"measures": ("orders",), "limit": 50_001}, ["limit"]),
        ({"measures": ("orders",), "limit": 0}, ["limit"]),
        ({"measures": ("orders",), "offset": -1}, ["offset"]),
        ({"measures": ("orders",), "timezone": "Mars/Olympus"}, ["timezone"]),
        ({"measures": ("orders", "orders")}, ["measures"]),
        ({}, []),
        (
            {
                "measures": ("orders",),
                "time_dimension": TimeDimension(
                    "order_ts", None, datetime(2024, 2, 1), datetime(2024, 1, 1)
                ),
            },
            ["timeDimension", "from"],
        ),
        (
            {"measures": ("orders",), "filters": (Group("and", ()),)},
            ["filters", "0"],
        ),
    ],
)
def test_mistakes_are_refused_with_a_path(fields: dict[str, Any], path: list[str]) -> None:
    with pytest.raises(QueryInvalid) as caught:
        compiled(**fields)
    assert caught.value.path == path


def test_deep_or_large_filters_are_refused() -> None:
    deep: Any = Condition("country", Operator.SET)
    for _ in range(6):
        deep = Group("and", (deep,))
    with pytest.raises(QueryInvalid, match="nest at most"):
        compiled(measures=("orders",), filters=(deep,))
    many = tuple(Condition("country", Operator.SET) for _ in range(101))
    with pytest.raises(QueryInvalid, match="at most 100"):
        compiled(measures=("orders",), filters=many)
    with pytest.raises(QueryInvalid, match="values must be"):
        compiled(
            measures=("orders",),
            filters=(Condition("country", Operator.IN, ({"$ne": 1},)),),  # type: ignore[arg-type]
        )


def test_a_scope_on_a_missing_dimension_locks_the_dataset() -> None:
    with pytest.raises(OutOfScope):
        compile_query(
            Query(dataset="orders", measures=("orders",)),
            ORDERS,
            relation=TABLE,
            scope=(("tenant", ("acme",)),),
        )


def test_the_postgres_dialect_buckets_with_date_trunc() -> None:
    query = Query(
        dataset="orders",
        measures=("orders",),
        time_dimension=TimeDimension("order_ts", Granularity.QUARTER),
    )
    result = compile_query(
        query, ORDERS, relation=Relation(table=("warehouse", "orders")), target=POSTGRES_SQL
    )
    assert result.sql.startswith(
        'SELECT date_trunc(\'quarter\', "order_ts") AS "order_ts.quarter", count(*) AS '
        '"orders" FROM "warehouse"."orders" GROUP BY 1 '
    )
