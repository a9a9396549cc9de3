"""Hostile names and values: refused, or matched as plain data; no other table is read."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl
import pytest

from app.analytics import service
from app.analytics.errors import DatasetNotFound, QueryInvalid
from app.analytics.hooks import after_successful_load
from app.analytics.query import Condition, Group, Operator, Query
from tests.unit.analytics.helpers import load, make_pipeline_id

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings

NASTY = [
    "DE'; DROP TABLE orders; --",
    'x" OR 1=1 --',
    "50%",
    "500",
    "a_b",
    "axb",
    "back\\slash",
    "/* comment */",
    "Zürich",
    "🚀 launch",
    "ΣΊΣΥΦΟΣ",
    "",
]
DATASET = {
    "time": "at",
    "dimensions": ["label"],
    "measures": {"total": "sum(amount)", "n": "count(*)"},
}
SECRET = {"dimensions": ["who"], "measures": {"salary_total": "sum(salary)"}}


@pytest.fixture
async def settings(embedded_settings: Settings, tmp_path: Path) -> Settings:
    pipeline_id = await make_pipeline_id(embedded_settings, tmp_path)
    labels = pl.DataFrame(
        {
            "at": [datetime(2024, 1, 1 + i) for i in range(len(NASTY))],
            "label": NASTY,
            "amount": [float(2**i) for i in range(len(NASTY))],
        }
    )
    secret = pl.DataFrame({"who": ["ceo", "cto"], "salary": [1e6, 9e5]})
    for table, frame, dataset in (("labels", labels, DATASET), ("secret", secret, SECRET)):
        await load(embedded_settings, table, frame)
        await after_successful_load(
            embedded_settings,
            pipeline_id=pipeline_id,
            pipeline_name=table,
            spec={"destination": {"table": table}, "dataset": dataset},
            table=table,
        )
    await load(embedded_settings, "not_a_dataset", secret)
    return embedded_settings


async def rows(settings: Settings, query: Query) -> list[list[object]]:
    return (await service.run_query(settings=settings, query=query, scope=())).rows


@pytest.mark.parametrize("value", NASTY)
async def test_every_value_matches_only_itself(settings: Settings, value: str) -> None:
    query = Query(
        dataset="labels",
        measures=("n",),
        dimensions=("label",),
        filters=(Condition("label", Operator.EQUALS, (value,)),),
    )
    assert await rows(settings, query) == [[value, 1]]


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Operator.CONTAINS, "50%", ["50%"]),
        (Operator.CONTAINS, "%", ["50%"]),
        (Operator.CONTAINS, "a_b", ["a_b"]),
        (Operator.STARTS_WITH, "_", []),
        (Operator.CONTAINS, "\\", ["back\\slash"]),
        (Operator.CONTAINS, "'", ["DE'; DROP TABLE orders; --"]),
        (Operator.CONTAINS, "--", ["DE'; DROP TABLE orders; --", 'x" OR 1=1 --']),
        (Operator.CONTAINS, "/*", ["/* comment */"]),
        (Operator.STARTS_WITH, "zü", ["Zürich"]),
        (Operator.ENDS_WITH, "LAUNCH", ["🚀 launch"]),
        (Operator.CONTAINS, "", NASTY),
    ],
)
async def test_patterns_are_literal_text(
    settings: Settings, operator: Operator, value: str, expected: list[str]
) -> None:
    query = Query(
        dataset="labels",
        dimensions=("label",),
        filters=(Condition("label", operator, (value,)),),
        limit=100,
    )
    assert sorted(row[0] for row in await rows(settings, query)) == sorted(expected)  # type: ignore[type-var]


@pytest.mark.parametrize(
    "name",
    [
        'label" , (SELECT sum(salary) FROM secret) AS "x',
        "label; DROP TABLE labels; --",
        "label --",
        "label/**/",
        "salary_total",  # a member of another dataset
        "who",
        "amount",  # a column of the table, but not a declared member
        "l\u0430bel",  # a Cyrillic a
        "LABEL",
        "",
    ],
)
async def test_member_names_outside_the_dataset_are_refused(settings: Settings, name: str) -> None:
    attempts = [
        Query(dataset="labels", measures=(name,)),
        Query(dataset="labels", measures=("n",), dimensions=(name,)),
        Query(dataset="labels", measures=("n",), filters=(Condition(name, Operator.SET),)),
        Query(
            dataset="labels",
            measures=("n",),
            filters=(
                Group("or", (Condition("label", Operator.SET), Condition(name, Operator.SET))),
            ),
        ),
    ]
    for query in attempts:
        with pytest.raises(QueryInvalid):
            await rows(settings, query)
    # Nothing happened to the data.
    assert await rows(settings, Query(dataset="labels", measures=("n",))) == [[len(NASTY)]]


@pytest.mark.parametrize(
    "name",
    [
        "not_a_dataset",
        "labels; DROP TABLE secret",
        'labels" UNION SELECT * FROM "secret',
        "../secret",
        "main.secret",
        "LABELS",
        "labels ",
    ],
)
async def test_only_declared_datasets_can_be_read(settings: Settings, name: str) -> None:
    with pytest.raises(DatasetNotFound):
        await rows(settings, Query(dataset=name, measures=("n",)))


async def test_a_timezone_is_a_known_name_not_text(settings: Settings) -> None:
    with pytest.raises(QueryInvalid, match="unknown timezone"):
        await rows(settings, Query(dataset="labels", measures=("n",), timezone="UTC'; --"))


async def test_statements_never_contain_client_text(settings: Settings) -> None:
    from app.analytics.compiler import Relation, compile_query

    (dataset,) = [
        d for d in await service.list_datasets(settings=settings, scope=()) if d.name == "labels"
    ]
    for value in NASTY:
        compiled = compile_query(
            Query(
                dataset="labels",
                measures=("total",),
                filters=(Condition("label", Operator.CONTAINS, (value,)),),
            ),
            dataset,
            relation=Relation(table=("labels",)),
        )
        if value:
            assert value not in compiled.sql
        assert compiled.sql.count("$") == len(compiled.params)
