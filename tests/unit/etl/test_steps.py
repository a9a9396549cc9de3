"""Each step kind on real frames, and the errors validation reports before any run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.errors import ExpressionInvalid, SpecInvalid, TransformFailed
from app.etl.sources.reader import ROW_COLUMN, SOURCE_COLUMN
from app.etl.spec import parse_spec, validate_against_schema
from app.etl.step_base import StepContext
from app.etl.transform import compile_steps, run_transform, split_stages

ORDERS = pl.DataFrame(
    {
        "order_id": [1, 2, 3, 4, 5],
        "customer": ["ann", "bob", "ann", "cy", "bob"],
        "amount": [10.0, 20.0, None, 5.0, 7.5],
        "day": ["2024-01-02", "2024-01-02", "2024-01-03", "x", None],
        "seen": [3, 1, 2, 5, 4],
    }
)


def steps_of(*steps: dict[str, Any]) -> list[Any]:
    return list(parse_spec({"steps": list(steps), "destination": {"table": "t"}}).steps)


def apply(frame: pl.DataFrame, *steps: dict[str, Any], **sides: pl.DataFrame) -> pl.DataFrame:
    context = StepContext(sides={f"table:{k}": v.lazy() for k, v in sides.items()})
    return run_transform(steps_of(*steps), frame, context=context)


def check(*steps: dict[str, Any], schema: pl.Schema = ORDERS.schema, **extra: Any) -> None:
    spec = parse_spec({"steps": list(steps), "destination": {"table": "t"}, **extra})
    validate_against_schema(spec, schema)


def test_select_keeps_the_columns_named_and_the_row_location() -> None:
    located = ORDERS.with_columns(
        pl.lit("f.csv").alias(SOURCE_COLUMN), pl.int_range(2, 7).alias(ROW_COLUMN)
    )
    result = apply(located, {"select": ["amount", "order_id"]})
    assert result.columns == ["amount", "order_id", SOURCE_COLUMN, ROW_COLUMN]


def test_rename_and_cast_and_fill_null() -> None:
    result = apply(
        ORDERS,
        {"rename": {"customer": "who"}},
        {"fill_null": {"amount": 0}},
        {"cast": {"seen": "Int16", "amount": "String"}},
    )
    assert result.schema["seen"] == pl.Int16
    assert result["who"].to_list() == ORDERS["customer"].to_list()
    assert result["amount"].to_list() == ["10.0", "20.0", "0.0", "5.0", "7.5"]


def test_a_cast_that_fails_on_real_data_names_its_step() -> None:
    with pytest.raises(TransformFailed) as raised:
        apply(ORDERS, {"filter": "order_id > 0"}, {"cast": {"day": "Date"}})
    assert raised.value.path == ["steps", "1", "cast"]


def test_text_casts_parse_dates_and_booleans() -> None:
    frame = pl.DataFrame({"d": ["2024-02-29"], "t": ["2024-02-29 10:11:12"], "b": ["Yes"]})
    result = apply(frame, {"cast": {"d": "Date", "t": "Datetime(UTC)", "b": "Boolean"}})
    assert result.row(0) == (date(2024, 2, 29), datetime(2024, 2, 29, 10, 11, 12, tzinfo=UTC), True)


@pytest.mark.parametrize(
    ("keep", "order", "expected"),
    [
        ("first", None, [1, 2, 4]),
        ("last", None, [3, 4, 5]),
        ("last", "seen", [1, 4, 5]),  # ann: seen 3 beats 2; bob: 4 beats 1
        ("first", "seen", [2, 3, 4]),
    ],
)
def test_dedupe_keeps_first_or_last_by_order(
    keep: str, order: str | None, expected: list[int]
) -> None:
    options = {"keys": ["customer"], "keep": keep, **({"order_by": order} if order else {})}
    result = apply(ORDERS, {"dedupe": options})
    assert sorted(result["order_id"].to_list()) == expected


def test_aggregate_computes_whitelisted_measures_per_group() -> None:
    measures = {
        "orders": "count(*)",
        "paid": "count(amount)",
        "total": "sum(amount)",
        "biggest": "max(amount)",
        "days": "count_distinct(day)",
        "first_seen": "first(seen)",
    }
    result = apply(ORDERS, {"aggregate": {"by": ["customer"], "measures": measures}})
    assert result.sort("customer").rows() == [
        ("ann", 2, 1, 10.0, 10.0, 2, 3),
        ("bob", 2, 2, 27.5, 20.0, 1, 1),
        ("cy", 1, 1, 5.0, 5.0, 1, 5),
    ]


def test_aggregate_without_groups_is_one_row() -> None:
    result = apply(ORDERS, {"aggregate": {"measures": {"total": "sum(amount)", "n": "count(*)"}}})
    assert result.rows() == [(42.5, 5)]


def test_sort_and_limit() -> None:
    result = apply(ORDERS, {"sort": {"by": ["seen"], "descending": True}}, {"limit": 2})
    assert result["order_id"].to_list() == [4, 5]


def test_join_looks_up_columns_left_or_inner() -> None:
    customers = pl.DataFrame({"name": ["ann", "bob"], "country": ["FR", "DE"]})
    left = {"join": {"table": "customers", "on": {"customer": "name"}}}
    result = apply(ORDERS, left, customers=customers)
    assert result["country"].to_list() == ["FR", "DE", "FR", None, "DE"]
    assert result.columns == [*ORDERS.columns, "country"]
    inner = {"join": {"table": "customers", "on": {"customer": "name"}, "how": "inner"}}
    assert apply(ORDERS, inner, customers=customers)["order_id"].to_list() == [1, 2, 3, 5]


def test_a_join_side_with_duplicate_keys_fails_rather_than_multiply_rows() -> None:
    customers = pl.DataFrame({"name": ["ann", "ann"], "country": ["FR", "DE"]})
    step = {"join": {"table": "customers", "on": {"customer": "name"}}}
    with pytest.raises(TransformFailed) as raised:
        apply(ORDERS, step, customers=customers)
    assert raised.value.path == ["steps", "0", "join"]


def test_flatten_turns_structs_into_columns_depth_levels_down() -> None:
    frame = pl.DataFrame(
        {"id": [1], "customer": [{"name": "ann", "address": {"city": "Paris", "zip": "75001"}}]}
    )
    one = apply(frame, {"flatten": {}})
    assert one.columns == ["id", "customer__name", "customer__address"]
    two = apply(frame, {"flatten": {"depth": 2, "separator": "_"}})
    assert two.row(0, named=True) == {
        "id": 1,
        "customer_name": "ann",
        "customer_address_city": "Paris",
        "customer_address_zip": "75001",
    }


def test_flatten_can_explode_lists() -> None:
    frame = pl.DataFrame({"id": [1, 2], "items": [[{"sku": "a"}, {"sku": "b"}], []]})
    result = apply(frame, {"flatten": {"depth": 2, "lists": "explode"}})
    assert result.rows() == [(1, "a"), (1, "b"), (2, None)]


def test_row_wise_steps_stream_and_the_rest_block() -> None:
    steps = steps_of(
        {"filter": "amount > 0"},
        {"join": {"table": "c", "on": ["customer"]}},
        {"dedupe": {"keys": ["customer"]}},
        {"derive": {"x": "amount * 2"}},
    )
    head, tail = split_stages(steps)
    assert [s.kind for s in head] == ["filter", "join"]
    assert [s.kind for s in tail] == ["dedupe", "derive"]


def test_the_compiled_plan_is_one_lazy_frame() -> None:
    plan = compile_steps(steps_of({"filter": "amount > 0"}, {"sort": {"by": ["seen"]}}))
    assert isinstance(plan(ORDERS.lazy()), pl.LazyFrame)


@pytest.mark.parametrize(
    ("step", "path"),
    [
        ({"select": ["order_id", "nope"]}, ["steps", "0", "select", "nope"]),
        ({"rename": {"nope": "x"}}, ["steps", "0", "rename", "nope"]),
        ({"rename": {"customer": "amount"}}, ["steps", "0", "rename", "customer"]),
        ({"cast": {"nope": "Int64"}}, ["steps", "0", "cast", "nope"]),
        ({"fill_null": {"amount": "n/a"}}, ["steps", "0", "fill_null", "amount"]),
        ({"fill_null": {"nope": 1}}, ["steps", "0", "fill_null", "nope"]),
        ({"dedupe": {"keys": ["nope"]}}, ["steps", "0", "dedupe", "nope"]),
        ({"dedupe": {"keys": ["customer"], "order_by": "nope"}}, ["steps", "0", "dedupe", "nope"]),
        ({"aggregate": {"measures": {"n": "sum(nope)"}}}, ["steps", "0", "aggregate", "nope"]),
        ({"aggregate": {"measures": {"n": "sum(customer)"}}}, ["steps", "0", "aggregate"]),
        ({"sort": {"by": ["nope"]}}, ["steps", "0", "sort", "nope"]),
        ({"flatten": {"columns": ["amount"]}}, ["steps", "0", "flatten", "amount"]),
        ({"join": {"table": "c", "on": ["nope"]}}, ["steps", "0", "join", "nope"]),
    ],
)
def test_validation_names_the_step_and_the_column(step: dict[str, Any], path: list[str]) -> None:
    with pytest.raises(ExpressionInvalid) as raised:
        check(step)
    assert raised.value.path == path
    assert raised.value.message.startswith("steps[0].")


def test_validation_checks_a_join_against_the_other_sides_columns() -> None:
    spec = parse_spec(
        {
            "steps": [
                {"join": {"table": "c", "on": ["customer"], "columns": ["nope"]}},
            ],
            "destination": {"table": "t"},
        }
    )
    sides = {"table:c": pl.Schema({"customer": pl.String(), "country": pl.String()})}
    with pytest.raises(ExpressionInvalid) as raised:
        validate_against_schema(spec, ORDERS.schema, join_schemas=sides)
    assert "`nope`" in raised.value.message
    good = parse_spec(
        {
            "steps": [{"join": {"table": "c", "on": ["customer"]}}, {"filter": "country = 'FR'"}],
            "destination": {"table": "t"},
        }
    )
    output = validate_against_schema(good, ORDERS.schema, join_schemas=sides)
    assert output is not None
    assert output.names() == [*ORDERS.columns, "country"]


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        (
            {"destination": {"table": "t", "mode": "merge", "keys": ["nope"]}},
            ["destination", "keys", "0"],
        ),
        (
            {"destination": {"table": "t", "mode": "merge", "keys": ["order_id"], "order_by": "x"}},
            ["destination", "order_by"],
        ),
        ({"incremental": {"cursor": "nope"}}, ["incremental", "cursor"]),
        (
            {"incremental": {"cursor": "day"}, "contract": {"columns": {"day": "Boolean"}}},
            ["incremental", "cursor"],
        ),
    ],
)
def test_validation_of_destination_and_cursor(extra: dict[str, Any], path: list[str]) -> None:
    with pytest.raises(SpecInvalid) as raised:
        check(**extra)
    assert raised.value.path == path


def test_contract_checks_are_validated_against_declared_types() -> None:
    with pytest.raises(ExpressionInvalid) as raised:
        check(contract={"checks": ["amount > 0", "nope > 1"]})
    assert raised.value.path == ["contract", "checks", "1"]
    # `day` is text in the source but declared a date: the check compares dates.
    check(contract={"columns": {"day": "Date"}, "checks": ["day > CAST('2024-01-01' AS DATE)"]})


def test_pass_through_keys_are_kept_as_given() -> None:
    spec = parse_spec(
        {
            "destination": {"table": "t"},
            "dataset": {"time": "day", "measures": {"n": "count(*)"}},
            "schedule": {"cron": "0 * * * *", "timezone": "Europe/Paris"},
        }
    )
    assert spec.dataset == {"time": "day", "measures": {"n": "count(*)"}}
    assert spec.schedule == {"cron": "0 * * * *", "timezone": "Europe/Paris"}
    assert parse_spec({"destination": {"table": "t"}, "schedule": "@hourly"}).schedule == "@hourly"


def test_filters_on_empty_batches_keep_the_schema() -> None:
    result = apply(ORDERS.head(0), {"filter": "amount > 1"}, {"derive": {"x": "amount * 2"}})
    assert_frame_equal(result, ORDERS.head(0).with_columns(x=pl.col("amount") * 2))
