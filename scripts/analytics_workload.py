"""The analytics benchmark's workload: the orders dataset as a pipeline declares it, ten
representative dashboard queries (as GraphQL variables), and their translation to the
service's own Query, so the same question can be put to DuckDB and PostgreSQL directly."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.analytics.query import (
    Condition,
    Granularity,
    Group,
    Operator,
    OrderBy,
    Query,
    TimeDimension,
)

if TYPE_CHECKING:
    from app.analytics.query import Filter

TABLE = "bench_orders"
DATASET = {
    "time": "order_ts",
    "dimensions": ["country", "category", "status", "channel"],
    "measures": {
        "revenue": "sum(revenue)",
        "orders": "count(*)",
        "customers": "count_distinct(customer_id)",
        "avg_order": "avg(revenue)",
        "units": "sum(quantity)",
    },
}
YEAR = {"member": "order_ts", "from": "2024-01-01T00:00:00", "to": "2025-01-01T00:00:00"}
QUERIES: dict[str, dict[str, Any]] = {
    "kpis": {"measures": ["revenue", "orders", "avg_order"]},
    "revenue_by_month": {
        "measures": ["revenue"],
        "timeDimension": {**YEAR, "granularity": "MONTH"},
    },
    "top_countries": {
        "measures": ["revenue", "orders"],
        "dimensions": ["country"],
        "order": [{"member": "revenue", "direction": "DESC"}],
    },
    "weekly_by_channel": {
        "measures": ["orders"],
        "dimensions": ["channel"],
        "timeDimension": {"member": "order_ts", "granularity": "WEEK"},
    },
    "q1_daily": {
        "measures": ["revenue", "orders"],
        "timeDimension": {
            "member": "order_ts",
            "granularity": "DAY",
            "from": "2024-01-01T00:00:00",
            "to": "2024-04-01T00:00:00",
        },
    },
    "category_by_country_completed": {
        "measures": ["revenue", "units"],
        "dimensions": ["category", "country"],
        "filters": [{"member": "status", "operator": "IN", "values": ["completed", "shipped"]}],
    },
    "customers_by_month": {
        "measures": ["customers"],
        "timeDimension": {"member": "order_ts", "granularity": "MONTH"},
    },
    "search_and_exclude": {
        "measures": ["revenue"],
        "dimensions": ["country"],
        "filters": [
            {"member": "category", "operator": "CONTAINS", "values": ["o"]},
            {"member": "channel", "operator": "NOT_EQUALS", "values": ["partner"]},
        ],
    },
    "berlin_week_hourly": {
        "measures": ["orders"],
        "timeDimension": {
            "member": "order_ts",
            "granularity": "HOUR",
            "from": "2024-06-03T00:00:00",
            "to": "2024-06-10T00:00:00",
        },
        "timezone": "Europe/Berlin",
    },
    "big_quarters": {
        "measures": ["revenue"],
        "dimensions": ["category"],
        "timeDimension": {"member": "order_ts", "granularity": "QUARTER"},
        "filters": [
            {
                "or": [
                    {"member": "country", "operator": "EQUALS", "values": ["DE", "FR"]},
                    {"member": "channel", "operator": "EQUALS", "values": ["web"]},
                ]
            },
            {"member": "revenue", "operator": "GT", "values": [1_000_000]},
        ],
        "order": [{"member": "revenue", "direction": "DESC"}],
        "limit": 10,
    },
}


def to_query(raw: dict[str, Any]) -> Query:
    """The GraphQL variables as the server's Query (answers are compared, so a mismatch
    between this and the server's conversion would show)."""
    time_raw = raw.get("timeDimension")
    time = None
    if time_raw:
        granularity = time_raw.get("granularity")
        time = TimeDimension(
            member=time_raw["member"],
            granularity=Granularity[granularity] if granularity else None,
            start=datetime.fromisoformat(time_raw["from"]) if "from" in time_raw else None,
            end=datetime.fromisoformat(time_raw["to"]) if "to" in time_raw else None,
        )
    return Query(
        dataset=raw.get("dataset", TABLE),
        measures=tuple(raw.get("measures", ())),
        dimensions=tuple(raw.get("dimensions", ())),
        time_dimension=time,
        filters=tuple(_filter(item) for item in raw.get("filters", ())),
        order=tuple(
            OrderBy(o["member"], o.get("direction") == "DESC") for o in raw.get("order", ())
        ),
        limit=raw.get("limit"),
        timezone=raw.get("timezone", "UTC"),
    )


def _filter(raw: dict[str, Any]) -> Filter:
    for kind in ("and", "or"):
        if kind in raw:
            return Group(kind, tuple(_filter(item) for item in raw[kind]))
    return Condition(raw["member"], Operator[raw["operator"]], tuple(raw.get("values", ())))


def same_rows(left: list[list[Any]], right: list[list[Any]]) -> bool:
    """Equal, but for the last bits of float sums (summed in a different order)."""

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-9)
        return bool(a == b)

    return len(left) == len(right) and all(
        len(x) == len(y) and all(map(same, x, y)) for x, y in zip(left, right, strict=True)
    )
