"""The `dataset` section: what is accepted, and where a refusal points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from app.analytics.datasets import DatasetSpec, Measure, parse_dataset
from app.errors import SpecInvalid

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

COLUMNS: dict[str, PolarsDataType] = {
    "order_ts": pl.Datetime("us"),
    "day": pl.Date,
    "country": pl.String,
    "quantity": pl.Int64,
    "revenue": pl.Float64,
    "paid": pl.Boolean,
    "Order Total": pl.Float64,
    "tags": pl.List(pl.String),
}
SCHEMA = pl.Schema(COLUMNS)
GOOD = {
    "time": "order_ts",
    "dimensions": ["country", "paid"],
    "measures": {
        "revenue": "sum(revenue)",
        "orders": "count(*)",
        "buyers": "COUNT_DISTINCT( country )",
        "biggest": 'max("Order Total")',
        "first": "min(order_ts)",
    },
}


def test_a_dataset_parses_with_and_without_the_schema() -> None:
    expected = DatasetSpec(
        time="order_ts",
        dimensions=("country", "paid"),
        measures=(
            Measure("revenue", "sum", "revenue"),
            Measure("orders", "count", None),
            Measure("buyers", "count_distinct", "country"),
            Measure("biggest", "max", "Order Total"),
            Measure("first", "min", "order_ts"),
        ),
    )
    assert parse_dataset(GOOD, SCHEMA) == expected
    assert parse_dataset(GOOD, None) == expected
    assert expected.columns() == ["order_ts", "country", "paid", "revenue", "Order Total"]
    assert parse_dataset(expected.to_json(), SCHEMA) == expected


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"time": "country"}, ["dataset", "time"], "not a date or timestamp"),
        ({"time": "missing"}, ["dataset", "time"], "column `missing` not found"),
        ({"dimensions": "country"}, ["dataset", "dimensions"], "must be a list"),
        ({"dimensions": ["tags"]}, ["dataset", "dimensions", "0"], "cannot be grouped"),
        ({"dimensions": ["country", "country"]}, ["dataset", "dimensions", "1"], "twice"),
        ({"dimensions": ["order_ts"]}, ["dataset", "dimensions", "0"], "the time column"),
        ({"measures": {}}, ["dataset", "measures"], "must map 1 to"),
        ({"measures": {"r": "sum(country)"}}, ["dataset", "measures", "r"], "sum cannot apply"),
        ({"measures": {"r": "median(revenue)"}}, ["dataset", "measures", "r"], "unknown aggregate"),
        ({"measures": {"r": "sum(*)"}}, ["dataset", "measures", "r"], "only count takes"),
        ({"measures": {"r": "sum(revenue) + 1"}}, ["dataset", "measures", "r"], "must be one of"),
        ({"measures": {"r": "sum(revenue); DROP TABLE x"}}, ["dataset", "measures", "r"], "one of"),
        ({"measures": {"r": "__import__('os')"}}, ["dataset", "measures", "r"], "must be one of"),
        ({"measures": {"r": "sum(nope)"}}, ["dataset", "measures", "r"], "`nope` not found"),
        ({"measures": {"a b": "count(*)"}}, ["dataset", "measures", "a b"], "measure name"),
        ({"measures": {"country": "count(*)"}}, ["dataset", "measures", "country"], "already"),
        ({"extra": 1}, ["dataset", "extra"], "not a known field"),
    ],
)
def test_mistakes_are_refused_with_a_path(
    change: dict[str, Any], path: list[str], message: str
) -> None:
    with pytest.raises(SpecInvalid, match=message) as caught:
        parse_dataset({**GOOD, **change}, SCHEMA)
    assert caught.value.path == path


def test_without_a_schema_only_the_shape_is_checked() -> None:
    parsed = parse_dataset({"dimensions": ["anything"], "measures": {"n": "sum(x)"}}, None)
    assert parsed.time is None
    with pytest.raises(SpecInvalid):
        parse_dataset("orders", None)  # type: ignore[arg-type]
