"""Resolving a run id prefix in the database (SQLite and PostgreSQL): exactly the runs
whose id starts with it, through a range the primary key index can scan."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from app.db import read_scope, session_scope
from app.errors import InvalidInput
from app.models.run import Run
from app.services import runs as run_service
from tests import factories

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def settings(request: pytest.FixtureRequest) -> Settings:
    name = "embedded_settings" if request.param == "sqlite" else "service_settings"
    settings: Settings = request.getfixturevalue(name)
    return settings


async def runs_with_ids(settings: Settings, tmp_path: Path, ids: list[str]) -> None:
    source = await factories.make_source(settings, factories.write_csv(tmp_path, ["1,paid,1,1.0"]))
    pipeline = await factories.make_pipeline(settings, source, factories.orders_spec("t"))
    async with session_scope(settings) as session:
        for run_id in ids:
            session.add(Run(id=run_id, pipeline_id=pipeline.id, pipeline_version=1))


async def matching(settings: Settings, prefix: str) -> set[str]:
    where = run_service.RunFilter(id_prefix=prefix)
    async with read_scope(settings) as session:
        page = await run_service.list_page(session=session, first=200, where=where)
    return {row.id for row in page.items}


async def test_a_prefix_finds_exactly_the_runs_that_start_with_it(
    settings: Settings, tmp_path: Path
) -> None:
    stem = uuid.uuid4().hex[:6]  # ids of this test only: the database is shared
    rest = "-1111-4111-8111-111111111111"
    ids = {
        "f0": f"{stem}f0{rest}",
        "ff": f"{stem}ff{rest}",
        "e9": f"{stem}e9{rest}",
        "f0-2": f"{stem}f0-2111-4111-8111-111111111111",
    }
    await runs_with_ids(settings, tmp_path, list(ids.values()))

    assert await matching(settings, f"{stem}f") == {ids["f0"], ids["ff"], ids["f0-2"]}
    assert await matching(settings, f"{stem}ff") == {ids["ff"]}
    assert await matching(settings, f"{stem}F0") == {ids["f0"], ids["f0-2"]}  # any case
    assert await matching(settings, f"{stem}f0-1") == {ids["f0"]}
    assert await matching(settings, ids["e9"]) == {ids["e9"]}
    assert await matching(settings, f"{stem}fa") == set()


@pytest.mark.parametrize("prefix", ["abc", "ab%d", "ab_d", "abcg", "ab\\d", "a" * 37])
async def test_a_prefix_no_id_could_have_is_invalid_input(settings: Settings, prefix: str) -> None:
    with pytest.raises(InvalidInput, match="is not a run id prefix") as raised:
        await matching(settings, prefix)
    assert raised.value.path == ["filter", "idPrefix"]


@pytest.mark.parametrize(
    ("prefix", "end"),
    [("53a3", "53a4"), ("53a9", "53aa"), ("53af", "53b"), ("abc-", "abd"), ("ffff", None)],
)
def test_the_range_ends_at_the_next_hex_string(prefix: str, end: str | None) -> None:
    assert run_service.after_prefix(prefix) == end
