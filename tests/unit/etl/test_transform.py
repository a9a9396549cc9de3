"""Compiled steps compute what the same steps written as Polars expressions compute."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from polars.testing.parametric import column, dataframes

from app.errors import TransformFailed
from app.etl.spec import DeriveStep, FilterStep, Step
from app.etl.transform import compile_steps, run_transform

WORDS = ["cancelled", "paid", "shipped", "o'brien", ""]

frames = dataframes(
    [
        column("quantity", dtype=pl.Int64, strategy=st.integers(-1_000, 1_000)),
        column(
            "price",
            dtype=pl.Float64,
            strategy=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        ),
        column("status", dtype=pl.String, strategy=st.sampled_from(WORDS)),
    ],
    min_size=0,
    max_size=40,
    allow_null=True,
)


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@settings(max_examples=150, deadline=None, database=None)
@given(
    frame=frames,
    threshold=st.integers(-1_000, 1_000),
    factor=st.integers(-50, 50),
    excluded=st.sampled_from(WORDS),
)
def test_filter_and_derive_match_plain_polars(
    frame: pl.DataFrame, threshold: int, factor: int, excluded: str
) -> None:
    steps: list[Step] = [
        FilterStep(filter=f"quantity > {threshold} AND status <> {sql_string(excluded)}"),
        DeriveStep(derive={"total": f"quantity * price * {factor}", "quantity": "quantity + 1"}),
        FilterStep(filter="total >= 0 OR total IS NULL"),
    ]
    expected = (
        frame.filter((pl.col("quantity") > threshold) & (pl.col("status") != excluded))
        .with_columns(
            total=pl.col("quantity") * pl.col("price") * factor,
            quantity=pl.col("quantity") + 1,
        )
        .filter((pl.col("total") >= 0) | pl.col("total").is_null())
    )
    actual = compile_steps(steps)(frame.lazy()).collect()
    assert_frame_equal(actual, expected)


@given(frame=frames)
@settings(max_examples=25, deadline=None, database=None)
def test_no_steps_is_the_identity(frame: pl.DataFrame) -> None:
    assert_frame_equal(compile_steps([])(frame.lazy()).collect(), frame)


def test_derived_columns_all_read_the_input_row() -> None:
    frame = pl.DataFrame({"a": [1, 2]})
    steps = [DeriveStep(derive={"a": "a * 10", "b": "a + 1"})]
    result = compile_steps(steps)(frame.lazy()).collect()
    assert result.to_dict(as_series=False) == {"a": [10, 20], "b": [2, 3]}


def test_compiling_reads_no_data() -> None:
    plan = compile_steps([FilterStep(filter="missing_column > 1")])
    assert isinstance(plan(pl.LazyFrame({"a": [1]})), pl.LazyFrame)


def test_a_failure_on_real_data_names_the_step() -> None:
    frame = pl.DataFrame({"code": ["1", "2", "abc"], "n": [1, 2, 3]})
    steps: list[Step] = [
        FilterStep(filter="n > 0"),
        DeriveStep(derive={"code_number": "CAST(code AS INTEGER)"}),
    ]
    with pytest.raises(TransformFailed) as raised:
        run_transform(steps, frame)
    error = raised.value
    assert error.code == "TRANSFORM_FAILED"
    assert error.path == ["steps", "1", "derive"]
    assert error.message.startswith("steps[1] (derive)")
    assert "abc" in error.message


def test_run_transform_returns_the_transformed_batch() -> None:
    frame = pl.DataFrame({"n": [1, 2, 3]})
    result = run_transform([FilterStep(filter="n <> 2")], frame)
    assert result["n"].to_list() == [1, 3]
