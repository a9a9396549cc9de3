"""Bad source files, on both warehouses: a typed error naming the file and the place, or
the bad rows quarantined with their reason; the table unchanged when the run fails, and
rows read = written + rejected + filtered when it succeeds.

Each case is one line of `CASES` (a file, its source options and contract, and what
must come of it); add more the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from app.errors import DataFlowError
from app.etl.engine import RunContext, run_pipeline
from app.etl.sources import parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec
from app.etl.warehouse import open_warehouse
from tests.unit.etl.warehouse_contract import unique_table

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import polars as pl

    from app.etl.engine import LoadResult
    from app.etl.warehouse import Warehouse
    from app.event_types import Event

HEADER = b"id,name,amount\n"
GOOD = HEADER + b"1,a,1.5\n2,b,2.5\n"


@dataclass(frozen=True)
class Case:
    """A file and what must come of loading it (in `replace` mode over a loaded table)."""

    name: str
    data: bytes
    error: tuple[str, str] | None = None
    """(code, text the message must hold besides the file name), when the run fails."""
    kept: int = 0
    """Rejects kept for inspection by a run that failed on its reject ratio (their file
    and lines say where; the message says how many)."""
    rejects: tuple[tuple[int, str], ...] = ()
    """(line, reason) of each quarantined row, when the run succeeds."""
    written: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    contract: dict[str, Any] | None = None
    batch_rows: int = 2
    kind: str = "csv"


CASES = [
    Case(
        "too_few_fields",
        HEADER + b"1,a,1.5\n2,b\n3,c,3.5\n4\n",
        rejects=((3, "expected 3 fields, got 2"), (5, "expected 3 fields, got 1")),
        written=2,
    ),
    Case(
        "too_few_fields_first",  # Polars takes a block's first row for its width
        HEADER + b"1,a\n2,b,2.5\n",
        rejects=((2, "expected 3 fields, got 2"),),
        written=1,
    ),
    Case(
        "too_few_fields_tabs",
        HEADER.replace(b",", b"\t") + b"1\ta\n2\tb\t2.5\n",
        rejects=((2, "expected 3 fields, got 2"),),
        written=1,
        options={"delimiter": "\t"},
    ),
    Case(
        "too_few_fields_null_values",
        HEADER + b"1,NA\n2,b,NA\n",
        rejects=((2, "expected 3 fields, got 2"),),
        written=1,
        options={"null_values": ["NA"]},
    ),
    Case(
        "too_few_fields_no_header",
        b"1,a,1.5\n2,b\n",
        rejects=((2, "expected 3 fields, got 2"),),
        written=1,
        options={"header": False},
    ),
    Case(
        "too_few_fields_quoted",
        HEADER + b'1,"a,\nb",1.5\n2,"x,y"\n3,c,\n',
        rejects=((4, "expected 3 fields, got 2"),),
        written=2,
    ),
    Case(
        "blank_line",
        HEADER + b"1,a,1.5\n\n2,b,2.5\n",
        rejects=((3, "expected 3 fields, got 0"),),
        written=2,
    ),
    Case(
        "too_few_fields_fail",
        HEADER + b"1,a,1.5\n2,b\n",
        error=("CONTRACT_VIOLATION", "expected 3 fields, got 2 at"),
        contract={"bad_rows": "fail"},
    ),
    Case("too_many_fields", HEADER + b"1,a,1.5\n2,b,2.5,x\n", error=("SOURCE_MALFORMED", "line 3")),
    Case(
        "overflowing_float",
        HEADER + b"1,a,1.5\n2,b,1e400\n3,c,2.5\n",
        rejects=((3, "column `amount` is not a finite number: inf"),),
        written=2,
    ),
    Case(
        "inf_and_nan",
        HEADER + b"1,a,inf\n2,b,-inf\n3,c,NaN\n4,d,2.5\n",
        rejects=(
            (2, "column `amount` is not a finite number: inf"),
            (3, "column `amount` is not a finite number: -inf"),
            (4, "column `amount` is not a finite number: NaN"),
        ),
        written=1,
    ),
    Case(
        "non_finite_allowed",
        HEADER + b"1,a,inf\n2,b,2.5\n",
        written=2,
        contract={"allow_non_finite": ["amount"]},
    ),
    Case(
        "non_finite_as_text_cast",
        HEADER + b"1,a,1e400\n2,b,2.5\n",
        rejects=((2, "column `amount` is not a finite number: inf"),),
        written=1,
        options={"infer_types": False},
        contract={"columns": {"amount": "Float64"}},
    ),
    Case(
        "wrong_delimiter",
        HEADER.replace(b",", b";") + b"1;a;1.5\n2;b;2.5\n",
        error=("CONTRACT_VIOLATION", "rejected every row"),
        kept=2,
        contract={"required": ["id"]},
    ),
    Case(
        "reject_ratio",
        HEADER + b"1,a,1.5\n2,b\n3,c,3.5\n4,d,4.5\n",
        error=("CONTRACT_VIOLATION", "25.0% of the rows"),
        kept=1,
        contract={"max_reject_ratio": 0.1},
    ),
    Case(
        "huge_field",
        HEADER + b"1,a,1.5\n2," + b"x" * (10 * 1024 * 1024) + b",2.5\n3,c,3.5\n",
        written=3,
        batch_rows=25_000,  # the default ETL_BATCH_ROWS: reads were sized from it
    ),
    Case("empty_header_name", b"id,,amount\n1,a,1.5\n", error=("SOURCE_MALFORMED", "column 2")),
    Case("blank_header_name", b"id, ,amount\n1,a,1.5\n", error=("SOURCE_MALFORMED", "column 2")),
    Case(
        "repeated_header_name",
        b"id,name,name\n1,a,b\n",
        error=("SOURCE_MALFORMED", "header column 3 `name` repeats column 2"),
    ),
    Case(
        "header_names_equal_but_case",
        b"id,Name,name\n1,a,b\n",
        error=("SOURCE_MALFORMED", "header column 3 `name` repeats column 2 `Name`"),
    ),
    Case(
        "reserved_header_name",
        b"id,_dataflow_row\n1,2\n",
        error=("SOURCE_MALFORMED", "header column 2 `_dataflow_row`"),
    ),
    Case("integer_past_64_bits", HEADER + b"99999999999999999999999,a,1.5\n", written=1),
    Case(
        "carriage_returns_alone",
        HEADER.replace(b"\n", b"\r") + b"1,a,1.5\r",
        error=("SOURCE_MALFORMED", "line 1"),
    ),
    Case(
        "nul_byte",
        HEADER + b"1,a,1.5\n2,b\x00c,2.5\n3,c,3.5\n",
        rejects=((3, "NUL byte in column `name`"),),
        written=2,
    ),
    Case(
        "nul_byte_in_json",
        b'{"id": 1, "name": "a\\u0000b", "amount": 1.5}\n{"id": 2, "name": "c", "amount": 2.5}\n',
        rejects=((1, "NUL byte in column `name`"),),
        written=1,
        kind="ndjson",
    ),
    Case(
        "unterminated_quote", HEADER + b'1,"a,1.5\n2,b,2.5\n', error=("SOURCE_MALFORMED", "line 2")
    ),
    Case("bad_utf8", HEADER + b"1,\xff\xfe,1.5\n", error=("SOURCE_MALFORMED", "line 2")),
]


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def warehouse(warehouse_url: str) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(warehouse_url)
    yield warehouse
    await warehouse.close()


async def ignore(event: Event) -> None:
    del event


async def load(
    warehouse: Warehouse, tmp_path: Path, case: Case, data: bytes, table: str, run_id: str
) -> LoadResult:
    path = tmp_path / f"{case.name}_{uuid.uuid4().hex[:6]}.{case.kind}"
    path.write_bytes(data)
    spec: dict[str, Any] = {"destination": {"table": table, "mode": "replace"}}
    if case.contract is not None:
        spec["contract"] = case.contract
    context = RunContext(
        run_id=run_id,
        spec=parse_spec(spec),
        source=parse_source(case.kind, str(path), case.options, SourcePolicy((tmp_path,))),
        events=ignore,
        batch_rows=case.batch_rows,
    )
    return await run_pipeline(context, warehouse)


def rows_of(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return sorted(frame.select("id").rows())


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_bad_file_fails_typed_or_quarantines_its_rows(
    warehouse: Warehouse, tmp_path: Path, case: Case
) -> None:
    table = unique_table(case.name[:20])
    seed = Case(case.name, GOOD)  # the table as it was before the bad file came
    await load(warehouse, tmp_path, seed, GOOD, table, uuid.uuid4().hex)
    before = rows_of(await warehouse.read_table(table))
    run_id = uuid.uuid4().hex

    if case.error is not None:
        code, where = case.error
        with pytest.raises(DataFlowError) as raised:
            await load(warehouse, tmp_path, case, case.data, table, run_id)
        assert raised.value.code == code, raised.value.message
        assert where in raised.value.message
        kept = await warehouse.read_rejects(run_id)
        assert kept.height == case.kept
        if not case.kept:
            assert f"{case.name}_" in raised.value.message, raised.value.message
        assert all(name.startswith(f"{case.name}_") for name in kept["source"])
        assert rows_of(await warehouse.read_table(table)) == before
        return

    result = await load(warehouse, tmp_path, case, case.data, table, run_id)
    rejects = await warehouse.read_rejects(run_id)
    assert [(row, reason) for row, reason in rejects.select("row_number", "reason").rows()] == list(
        case.rejects
    )
    assert all(name.startswith(f"{case.name}_") for name in rejects["source"])
    assert result.rows_written == case.written
    assert result.rows_read == result.rows_written + result.rows_rejected + result.rows_filtered
    assert result.rows_rejected == len(case.rejects)
    assert (await warehouse.read_table(table)).height == case.written


@pytest.mark.parametrize(
    ("contract", "path"),
    [
        ({"max_reject_ratio": 1.5}, ["contract", "max_reject_ratio"]),
        ({"max_reject_ratio": -0.1}, ["contract", "max_reject_ratio"]),
        ({"allow_non_finite": {"amount": 1}}, ["contract", "allow_non_finite"]),
    ],
)
def test_contract_options_out_of_range_are_refused_with_their_path(
    contract: dict[str, Any], path: list[str]
) -> None:
    with pytest.raises(DataFlowError) as raised:
        parse_spec({"destination": {"table": "t"}, "contract": contract})
    assert raised.value.code == "SPEC_INVALID"
    assert raised.value.path[: len(path)] == path
