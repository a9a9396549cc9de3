"""Previewing a pipeline: the rows it would load and the rows it would reject."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pytest

from app.errors import ExpressionInvalid, TransformFailed
from app.etl.preview import preview_pipeline
from app.etl.spec import parse_spec
from tests.unit.etl.engine_helpers import csv_source

if TYPE_CHECKING:
    from pathlib import Path

TEXT = "id,qty,status\n1,2,paid\n2,x,paid\n3,5,cancelled\n4,1,paid\n5,-1,paid\n"


async def test_a_preview_shows_rows_schema_and_rejects(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "orders.csv", TEXT, infer_types=False)
    spec = parse_spec(
        {
            "steps": [
                {"filter": "status <> 'cancelled'"},
                {"sort": {"by": ["qty"], "descending": True}},
            ],
            "destination": {"table": "t"},
            "contract": {"columns": {"qty": "Int64"}, "checks": ["qty > 0"], "bad_rows": "fail"},
        }
    )
    preview = await preview_pipeline(source, spec, limit=1)
    assert preview.frame.rows() == [("1", 2, "paid")]
    assert preview.schema == pl.Schema({"id": pl.String, "qty": pl.String, "status": pl.String})
    assert preview.rejects.select("row_number", "reason").rows() == [
        (3, "column `qty` expected Int64, got 'x'"),
        (6, "check failed: qty > 0"),
    ]
    assert preview.rows_sampled == 5


async def test_a_preview_reports_what_validation_or_a_step_finds(tmp_path: Path) -> None:
    source = csv_source(tmp_path, "orders.csv", TEXT)
    unknown = parse_spec({"steps": [{"filter": "nope > 1"}], "destination": {"table": "t"}})
    with pytest.raises(ExpressionInvalid):
        await preview_pipeline(source, unknown, limit=5)
    failing = parse_spec(
        {
            "steps": [{"sort": {"by": ["id"]}}, {"cast": {"status": "Int64"}}],
            "destination": {"table": "t"},
        }
    )
    with pytest.raises(TransformFailed) as raised:
        await preview_pipeline(source, failing, limit=5)
    assert raised.value.path == ["steps", "1", "cast"]
