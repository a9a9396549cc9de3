"""Parsing a pipeline spec: typed errors that point into the document the client sent."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from app.errors import ExpressionInvalid, SpecInvalid, UnknownStep
from app.etl.spec import (
    DeriveStep,
    Destination,
    FilterStep,
    PipelineSpec,
    parse_spec,
    validate_against_schema,
)

ORDERS = pl.Schema(
    {
        "order_id": pl.Int64,
        "status": pl.String,
        "quantity": pl.Int64,
        "unit_price": pl.Float64,
        "discount": pl.Float64,
    }
)


MEASURES_PATH = ["steps", "0", "aggregate", "measures"]


def spec_with(*steps: dict[str, Any], table: str = "orders") -> dict[str, Any]:
    return {"steps": list(steps), "destination": {"table": table}}


def with_key(key: str, value: Any) -> dict[str, Any]:
    return {"destination": {"table": "t"}, key: value}


def test_a_good_spec_parses() -> None:
    spec = parse_spec(
        {
            "steps": [
                {"filter": "status <> 'cancelled'"},
                {"derive": {"revenue": "quantity * unit_price * (1 - discount)"}},
            ],
            "destination": {"table": "orders_clean", "mode": "replace"},
        }
    )
    assert spec == PipelineSpec(
        steps=[
            FilterStep(filter="status <> 'cancelled'"),
            DeriveStep(derive={"revenue": "quantity * unit_price * (1 - discount)"}),
        ],
        destination=Destination(table="orders_clean", mode="replace"),
    )


def test_steps_and_mode_have_defaults() -> None:
    spec = parse_spec({"destination": {"table": "t"}})
    assert spec.steps == []
    assert spec.destination.mode == "append"


def test_an_unknown_step_names_its_kind_place_and_the_known_kinds() -> None:
    with pytest.raises(UnknownStep) as raised:
        parse_spec(spec_with({"filter": "quantity > 1"}, {"pivot": {"on": ["order_id"]}}))
    error = raised.value
    assert error.code == "UNKNOWN_STEP"
    assert error.path == ["steps", "1", "pivot"]
    assert "steps[1]" in error.message
    assert "'pivot'" in error.message
    assert "aggregate, cast, dedupe, derive, fill_null, filter, flatten" in error.message


@pytest.mark.parametrize("expression", ["amount >>> 3", "(", "quantity >", "a; drop table x"])
def test_a_filter_that_does_not_parse_names_its_step(expression: str) -> None:
    with pytest.raises(ExpressionInvalid) as raised:
        parse_spec(spec_with({"filter": "quantity > 1"}, {"filter": expression}))
    error = raised.value
    assert error.code == "EXPRESSION_INVALID"
    assert error.path == ["steps", "1", "filter"]
    assert error.message.startswith("steps[1].filter: cannot parse")
    assert expression in error.message


def test_a_contract_check_that_does_not_parse_names_its_place() -> None:
    with pytest.raises(ExpressionInvalid) as raised:
        parse_spec({"destination": {"table": "t"}, "contract": {"checks": ["a > 0", "a >"]}})
    assert raised.value.path == ["contract", "checks", "1"]
    assert raised.value.message.startswith("contract.checks[1]: cannot parse")


def test_a_derive_that_does_not_parse_names_its_column_and_polars_reason() -> None:
    with pytest.raises(ExpressionInvalid) as raised:
        parse_spec(spec_with({"derive": {"ok": "quantity + 1", "revenue": "quantity *"}}))
    error = raised.value
    assert error.path == ["steps", "0", "derive", "revenue"]
    assert "steps[0].derive.revenue" in error.message
    assert "unable to parse" in error.message  # Polars' own words


def test_an_unknown_function_is_an_invalid_expression() -> None:
    with pytest.raises(ExpressionInvalid) as raised:
        parse_spec(spec_with({"derive": {"x": "launch_missiles(quantity)"}}))
    assert "launch_missiles" in raised.value.message


@pytest.mark.parametrize(
    "table", ["orders; drop table x", "Orders", "1orders", "", "a" * 64, "my-table", 'o"rders']
)
def test_a_table_name_outside_the_whitelist_is_refused(table: str) -> None:
    with pytest.raises(SpecInvalid) as raised:
        parse_spec(spec_with(table=table))
    assert raised.value.code == "SPEC_INVALID"
    assert raised.value.path == ["destination", "table"]


def test_the_longest_table_name_is_accepted() -> None:
    assert parse_spec(spec_with(table="a" * 63)).destination.table == "a" * 63


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"steps": []}, ["destination"]),
        ({"destination": {"table": "t", "mode": "merge"}}, ["destination", "keys"]),
        ({"destination": {"table": "t", "mode": "upsert"}}, ["destination", "mode"]),
        ({"destination": {"table": "t", "order_by": "x"}}, ["destination", "order_by"]),
        ({"destination": {"table": "_dataflow_rejects"}}, ["destination", "table"]),
        (
            {"destination": {"table": "t"}, "contract": {"columns": {"a": "Int"}}},
            ["contract", "columns", "a"],
        ),
        (
            {"destination": {"table": "t"}, "contract": {"bad_rows": "drop"}},
            ["contract", "bad_rows"],
        ),
        ({"destination": {"table": "t"}, "incremental": {}}, ["incremental", "cursor"]),
        ({"destination": {"table": "t"}, "dataset": "orders"}, ["dataset"]),
        (spec_with({"select": []}), ["steps", "0", "select"]),
        (spec_with({"rename": {"a": "b c"}}), ["steps", "0", "rename", "a"]),
        (spec_with({"cast": {"a": "Integer"}}), ["steps", "0", "cast", "a"]),
        (spec_with({"dedupe": {"keys": ["a"], "keep": "any"}}), ["steps", "0", "dedupe", "keep"]),
        (
            spec_with({"aggregate": {"measures": {"n": "eval(a)"}}}),
            ["steps", "0", "aggregate", "measures"],
        ),
        (
            spec_with({"aggregate": {"measures": {"n": "sum(*)"}}}),
            ["steps", "0", "aggregate", "measures"],
        ),
        (spec_with({"join": {"on": ["a"]}}), ["steps", "0", "join"]),
        (spec_with({"join": {"table": "x", "source": "y", "on": ["a"]}}), ["steps", "0", "join"]),
        (spec_with({"flatten": {"depth": 9}}), ["steps", "0", "flatten", "depth"]),
        (spec_with({"limit": -1}), ["steps", "0", "limit"]),
        ({"destination": {"table": "t", "keys": ["id"]}}, ["destination", "keys"]),
        ({"destination": {"table": "t"}, "stpes": []}, ["stpes"]),
        ({"steps": "filter", "destination": {"table": "t"}}, ["steps"]),
        (spec_with({"filter": "a > 1", "derive": {"b": "1"}}), ["steps", "0"]),
        (spec_with("filter"), ["steps", "0"]),  # type: ignore[arg-type]
        (spec_with({"filter": ""}), ["steps", "0", "filter"]),
        (spec_with({"filter": 3}), ["steps", "0", "filter"]),
        (spec_with({"derive": {}}), ["steps", "0", "derive"]),
        (spec_with({"derive": {"bad name": "1"}}), ["steps", "0", "derive", "bad name"]),
        (spec_with({"derive": {"1st": "1"}}), ["steps", "0", "derive", "1st"]),
    ],
)
def test_everything_else_is_spec_invalid_with_a_path(raw: dict[str, Any], path: list[str]) -> None:
    with pytest.raises(SpecInvalid) as raised:
        parse_spec(raw)
    error = raised.value
    assert type(error) is SpecInvalid
    assert error.path == path
    assert error.message


def test_a_spec_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(SpecInvalid):
        parse_spec(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_derived_column_names_may_use_upper_case() -> None:
    spec = parse_spec(spec_with({"derive": {"Revenue_EUR": "unit_price * 0.9"}}))
    assert isinstance(spec.steps[0], DeriveStep)
    assert list(spec.steps[0].derive) == ["Revenue_EUR"]


def test_validation_names_the_step_and_the_unknown_column() -> None:
    spec = parse_spec(
        spec_with(
            {"filter": "status <> 'cancelled'"},
            {"derive": {"total": "quantity * price_typo"}},
        )
    )
    with pytest.raises(ExpressionInvalid) as raised:
        validate_against_schema(spec, ORDERS)
    error = raised.value
    assert error.path == ["steps", "1", "derive", "total"]
    assert "steps[1].derive.total" in error.message
    assert "`price_typo` not found" in error.message


def test_validation_of_a_filter_names_the_column() -> None:
    spec = parse_spec(spec_with({"filter": "state = 'x'"}))
    with pytest.raises(ExpressionInvalid) as raised:
        validate_against_schema(spec, ORDERS)
    assert raised.value.path == ["steps", "0", "filter"]
    assert "`state`" in raised.value.message


def test_a_later_step_sees_columns_derived_earlier() -> None:
    spec = parse_spec(
        spec_with(
            {"derive": {"revenue": "quantity * unit_price"}},
            {"filter": "revenue > 10"},
        )
    )
    validate_against_schema(spec, ORDERS)


def test_a_column_is_not_visible_to_its_sibling_derivations() -> None:
    spec = parse_spec(spec_with({"derive": {"revenue": "quantity * 2", "twice": "revenue * 2"}}))
    with pytest.raises(ExpressionInvalid) as raised:
        validate_against_schema(spec, ORDERS)
    assert raised.value.path == ["steps", "0", "derive", "twice"]


@pytest.mark.parametrize(
    ("step", "path"),
    [
        ({"filter": "quantity + 1"}, ["steps", "0", "filter"]),
        ({"derive": {"x": "status * 2"}}, ["steps", "0", "derive", "x"]),
    ],
)
def test_a_type_clash_is_an_invalid_expression(step: dict[str, Any], path: list[str]) -> None:
    with pytest.raises(ExpressionInvalid) as raised:
        validate_against_schema(parse_spec(spec_with(step)), ORDERS)
    assert raised.value.path == path
    assert raised.value.message.startswith("steps[0]")
