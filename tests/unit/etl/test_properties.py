"""Laws the steps and the loader keep, checked on generated frames (hypothesis)."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from polars.testing.parametric import column, dataframes

from app.etl.batches import BatchProcessor
from app.etl.sources.reader import ROW_COLUMN, SOURCE_COLUMN
from app.etl.spec import parse_spec
from app.etl.step_base import StepContext
from app.etl.transform import compile_steps, run_transform
from app.etl.warehouse import LoadOptions, open_warehouse

if TYPE_CHECKING:
    from pathlib import Path

    from app.etl.transform import Transform
    from app.etl.warehouse import Warehouse

WORDS = ["paid", "shipped", "cancelled", "o'brien", ""]
FAST = settings(max_examples=60, deadline=None, database=None)

orders = dataframes(
    [
        column("id", dtype=pl.Int64, strategy=st.integers(0, 8)),
        column("qty", dtype=pl.Int64, strategy=st.integers(-5, 5)),
        column("status", dtype=pl.String, strategy=st.sampled_from(WORDS)),
        column("seen", dtype=pl.Int64, strategy=st.integers(0, 3)),
    ],
    min_size=0,
    max_size=30,
    allow_null=True,
)
# Text as a source gives it before a contract casts it: some of it does not convert.
raw_orders = dataframes(
    [
        column("id", dtype=pl.String, strategy=st.sampled_from(["1", "2", "x", "3", ""])),
        column("qty", dtype=pl.String, strategy=st.sampled_from(["0", "4", "-2", "two", "7"])),
        column("status", dtype=pl.String, strategy=st.sampled_from(WORDS)),
    ],
    min_size=0,
    max_size=30,
    allow_null=True,
)
thresholds = st.integers(-5, 5)


def steps(*raw: dict[str, Any]) -> Transform:
    return compile_steps(parse_spec({"steps": list(raw), "destination": {"table": "t"}}).steps)


def collect(plan: Transform, frame: pl.DataFrame) -> pl.DataFrame:
    return plan(frame.lazy()).collect()


@FAST
@given(frame=orders, keep=st.sampled_from(["first", "last"]), order=st.booleans())
def test_dedupe_is_idempotent(frame: pl.DataFrame, keep: str, order: bool) -> None:
    options = {"keys": ["id"], "keep": keep, **({"order_by": "seen"} if order else {})}
    once = collect(steps({"dedupe": options}), frame)
    twice = collect(steps({"dedupe": options}, {"dedupe": options}), frame)
    assert_frame_equal(once, twice)
    assert once["id"].n_unique() == once.height


@FAST
@given(frame=orders, low=thresholds, excluded=st.sampled_from(WORDS))
def test_two_filters_equal_one_filter_on_their_conjunction(
    frame: pl.DataFrame, low: int, excluded: str
) -> None:
    first, second = f"qty > {low}", "status <> '" + excluded.replace("'", "''") + "'"
    chained = collect(steps({"filter": first}, {"filter": second}), frame)
    joined = collect(steps({"filter": f"({first}) AND ({second})"}), frame)
    assert_frame_equal(chained, joined)


@FAST
@given(frame=orders, names=st.permutations(["id", "qty", "status", "seen"]))
def test_rename_then_rename_back_is_the_identity(frame: pl.DataFrame, names: list[str]) -> None:
    there = {old: f"{new}_x" for old, new in zip(frame.columns, names, strict=True)}
    back = {new: old for old, new in there.items()}
    assert_frame_equal(collect(steps({"rename": there}, {"rename": back}), frame), frame)


@FAST
@given(frame=raw_orders, low=thresholds)
def test_rows_read_equal_written_plus_rejected_plus_filtered(frame: pl.DataFrame, low: int) -> None:
    located = frame.with_columns(
        pl.lit("f.csv").alias(SOURCE_COLUMN),
        pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias(ROW_COLUMN),
    )
    spec = parse_spec(
        {
            "steps": [{"filter": f"qty > {low}"}, {"derive": {"double": "qty * 2"}}],
            "destination": {"table": "t", "mode": "merge", "keys": ["id"]},
            "contract": {"columns": {"id": "Int64", "qty": "Int32"}, "checks": ["qty <> 7"]},
        }
    )
    processor = BatchProcessor(spec, steps=list(spec.steps), context=StepContext(), watermark=None)
    processed = processor.process(located)
    stats = processed.stats
    assert stats.rows_read == frame.height
    assert stats.rows_written == processed.frame.height
    assert stats.rows_rejected == processed.rejects.height
    assert stats.rows_filtered >= 0
    assert stats.rows_read == stats.rows_written + stats.rows_rejected + stats.rows_filtered
    assert processed.frame["id"].null_count() == 0  # merge keys are never null
    assert SOURCE_COLUMN not in processed.frame.columns


merge_batches = dataframes(
    [
        column("id", dtype=pl.Int64, strategy=st.integers(0, 6), allow_null=False),
        column("version", dtype=pl.Int64, strategy=st.integers(0, 3), allow_null=False),
        column("value", dtype=pl.String, strategy=st.sampled_from(["a", "b", "c"])),
    ],
    min_size=1,
    max_size=20,
)


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=merge_batches)
def test_merging_the_same_batch_twice_equals_merging_it_once(
    tmp_path: Path, batch: pl.DataFrame
) -> None:
    async def merge(warehouse: Warehouse, table: str, times: int) -> pl.DataFrame:
        options = LoadOptions(keys=("id",), order_by="version")
        for _ in range(times):
            load = await warehouse.begin_load(
                table=table, mode="merge", run_id=uuid.uuid4().hex, options=options
            )
            await load.write(batch)
            await load.commit()
        return (await warehouse.read_table(table)).sort("id")

    async def both() -> tuple[pl.DataFrame, pl.DataFrame]:
        warehouse = open_warehouse(f"duckdb:///{tmp_path / 'merge.duckdb'}")
        try:
            table = f"m_{uuid.uuid4().hex[:8]}"
            return await merge(warehouse, f"{table}_1", 1), await merge(warehouse, f"{table}_2", 2)
        finally:
            await warehouse.close()

    once, twice = asyncio.run(both())
    assert_frame_equal(once, twice)
    # And the survivor of each key is its latest version.
    latest = batch.group_by("id").agg(pl.col("version").max()).sort("id")
    assert_frame_equal(once.select("id", "version"), latest)


def test_run_transform_on_a_generated_empty_frame_keeps_columns() -> None:
    frame = pl.DataFrame(schema={"id": pl.Int64, "qty": pl.Int64})
    plan = parse_spec({"steps": [{"filter": "qty > 0"}], "destination": {"table": "t"}}).steps
    assert run_transform(plan, frame).columns == ["id", "qty"]
