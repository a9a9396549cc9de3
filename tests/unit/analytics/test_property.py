"""Random queries over random data: DuckDB through the compiler agrees with Polars."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.analytics.compiler import compile_query
from app.analytics.engine import QueryEngine
from app.analytics.query import Condition, Granularity, Group, Operator, Query, TimeDimension
from app.etl.warehouse.duckdb import in_place_access
from tests.unit.analytics import reference
from tests.unit.analytics.helpers import describe, put_table

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from polars._typing import PolarsDataType

    from app.analytics.query import Filter

TEXTS = ["a", "B", "ab", "Ab%", "a_b", "x\\y", "it's", 'q"t', "ü", "", "AB"]
PATTERNS = ["a", "b", "%", "_", "\\", "'", "ü", "b%", "a_", "AB"]
TIMEZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
START = datetime(2023, 12, 20)
MEASURES = {
    "total": "sum(x)",
    "mean": "avg(x)",
    "lo": "min(x)",
    "hi": "max(x)",
    "rows": "count(*)",
    "xs": "count(x)",
    "kinds": "count_distinct(s)",
    "first": "min(ts)",
}
DATASET = {"time": "ts", "dimensions": ["s", "n", "flag"], "measures": MEASURES}
SCHEMA: dict[str, PolarsDataType] = {
    "ts": pl.Datetime("us"),
    "s": pl.String,
    "n": pl.Int64,
    "x": pl.Float64,
    "flag": pl.Boolean,
}

moments = st.integers(0, 320 * 24 * 3600).map(lambda s: START + timedelta(seconds=s))
rows = st.lists(
    st.tuples(
        st.one_of(st.none(), moments),
        st.one_of(st.none(), st.sampled_from(TEXTS)),
        st.one_of(st.none(), st.integers(-3, 3)),
        # Quarters add up exactly in any order, so sums compare exactly.
        st.one_of(st.none(), st.integers(-400, 400).map(lambda i: i / 4)),
        st.one_of(st.none(), st.booleans()),
    ),
    max_size=60,
)


def _condition(member: str) -> st.SearchStrategy[Condition]:
    if member == "s":
        values = st.lists(st.sampled_from(TEXTS), min_size=1, max_size=3)
        patterns = st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2)
        return st.one_of(
            st.builds(
                Condition,
                st.just("s"),
                st.sampled_from(
                    [Operator.EQUALS, Operator.NOT_EQUALS, Operator.IN, Operator.NOT_IN]
                ),
                values.map(tuple),
            ),
            st.builds(
                Condition,
                st.just("s"),
                st.sampled_from([Operator.CONTAINS, Operator.STARTS_WITH, Operator.ENDS_WITH]),
                patterns.map(tuple),
            ),
            st.builds(
                Condition,
                st.just("s"),
                st.sampled_from([Operator.SET, Operator.NOT_SET]),
                st.just(()),
            ),
        )
    if member == "n":
        return st.one_of(
            st.builds(
                Condition,
                st.just("n"),
                st.sampled_from([Operator.EQUALS, Operator.NOT_IN]),
                st.lists(st.integers(-3, 3), min_size=1, max_size=3).map(tuple),
            ),
            st.builds(
                Condition,
                st.just("n"),
                st.sampled_from([Operator.GT, Operator.GTE, Operator.LT, Operator.LTE]),
                st.integers(-3, 3).map(lambda v: (v,)),
            ),
        )
    if member == "flag":
        return st.builds(
            Condition,
            st.just("flag"),
            st.sampled_from([Operator.EQUALS, Operator.NOT_EQUALS]),
            st.booleans().map(lambda v: (v,)),
        )
    return st.builds(
        Condition,
        st.just("ts"),
        st.sampled_from([Operator.GTE, Operator.LT]),
        moments.map(lambda m: (m.isoformat(),)),
    )


dimension_filters: st.SearchStrategy[Filter] = st.recursive(
    st.sampled_from(["s", "n", "flag", "ts"]).flatmap(_condition),
    lambda children: st.builds(
        Group, st.sampled_from(["and", "or"]), st.lists(children, min_size=1, max_size=3).map(tuple)
    ),
    max_leaves=6,
)
measure_filters = st.builds(
    Condition,
    st.sampled_from(["total", "rows", "xs"]),
    st.sampled_from([Operator.GT, Operator.LTE]),
    st.integers(-5, 5).map(lambda v: (v,)),
)


@st.composite
def queries(draw: st.DrawFn) -> Query:
    granularity = draw(st.one_of(st.none(), st.sampled_from(list(Granularity))))
    start = draw(st.one_of(st.none(), moments))
    end = draw(st.one_of(st.none(), moments))
    time = None
    if granularity or start or end:
        time = TimeDimension("ts", granularity, start, end)
    filters = draw(st.lists(dimension_filters, max_size=2))
    filters += draw(st.lists(measure_filters, max_size=1))
    query = Query(
        dataset="facts",
        measures=tuple(draw(st.lists(st.sampled_from(list(MEASURES)), unique=True, max_size=4))),
        dimensions=tuple(
            draw(st.lists(st.sampled_from(["s", "n", "flag"]), unique=True, max_size=3))
        ),
        time_dimension=time,
        filters=tuple(filters),
        timezone=draw(st.sampled_from(TIMEZONES)),
    )
    assume(query.measures or query.dimensions or granularity)
    assume(not (start and end and start > end))
    return query


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Path, QueryEngine]]:
    path = tmp_path / "warehouse.duckdb"
    put_table(path, "facts", pl.DataFrame(schema=SCHEMA))
    engine = QueryEngine.in_place(in_place_access(path))
    yield path, engine
    engine.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=rows, query=queries())
def test_duckdb_agrees_with_polars(
    engine: tuple[Path, QueryEngine], data: list[tuple[Any, ...]], query: Query
) -> None:
    path, duck = engine
    frame = pl.DataFrame(data, schema=SCHEMA, orient="row")
    put_table(path, "facts", frame)
    dataset = describe(path, "facts", DATASET)
    compiled = compile_query(query, dataset, relation=duck.relation(dataset))
    got, _ = duck.run(compiled, timeout=30)
    expected = reference.answer(frame, query, MEASURES)
    assert [c.name for c in compiled.columns][
        len(compiled.columns) - len(query.measures) :
    ] == list(query.measures)
    assert _normal(got) == _normal(expected)


def _normal(rows: list[list[Any]]) -> list[list[Any]]:
    rounded = [[round(v, 9) if isinstance(v, float) else v for v in row] for row in rows]
    return sorted(rounded, key=reference.sort_key)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    times=st.lists(moments, min_size=1, max_size=80),
    granularity=st.sampled_from(list(Granularity)),
    timezone=st.sampled_from(TIMEZONES[1:]),
    start=st.one_of(st.none(), moments),
    end=st.one_of(st.none(), moments),
)
def test_time_buckets_across_offset_changes_agree_with_polars(
    engine: tuple[Path, QueryEngine],
    times: list[datetime],
    granularity: Granularity,
    timezone: str,
    start: datetime | None,
    end: datetime | None,
) -> None:
    """Buckets in zones with summer time, over spans that cross its changes."""
    assume(not (start and end and start > end))
    path, duck = engine
    frame = pl.DataFrame(
        {"ts": times, "s": None, "n": None, "x": None, "flag": None}, schema=SCHEMA
    )
    put_table(path, "facts", frame)
    dataset = describe(path, "facts", DATASET)
    query = Query(
        dataset="facts",
        measures=("rows",),
        time_dimension=TimeDimension("ts", granularity, start, end),
        timezone=timezone,
    )
    got, _ = duck.run(compile_query(query, dataset, relation=duck.relation(dataset)), 30)
    assert _normal(got) == _normal(reference.answer(frame, query, MEASURES))
