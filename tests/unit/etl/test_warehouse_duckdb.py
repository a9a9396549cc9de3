"""The embedded DuckDB warehouse keeps the warehouse contract, and shares its file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from app.errors import ConfigError
from app.etl.warehouse import open_warehouse
from app.etl.warehouse.duckdb import DuckDBWarehouse
from tests.unit.etl import warehouse_contract as contract
from tests.unit.etl import warehouse_modes as modes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.etl.warehouse import Warehouse


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    yield warehouse
    await warehouse.close()


@pytest.mark.parametrize("scenario", contract.SCENARIOS, ids=lambda s: s.__name__)
async def test_contract(warehouse: Warehouse, scenario: contract.Scenario) -> None:
    await scenario(warehouse, contract.unique_table())


@pytest.mark.parametrize("scenario", modes.SCENARIOS, ids=lambda s: s.__name__)
async def test_modes(warehouse: Warehouse, scenario: modes.Scenario) -> None:
    await scenario(warehouse, contract.unique_table())


async def test_two_warehouses_on_one_file_see_the_same_tables(tmp_path: Path) -> None:
    target = f"duckdb:///{tmp_path / 'shared.duckdb'}"
    first, second = open_warehouse(target), open_warehouse(target)
    await contract.load(first, "shared", "append", contract.orders(range(3)))
    await first.close()
    # The second still reads after the first let go: the file stays open while in use.
    assert (await second.read_table("shared")).height == 3
    await second.close()
    reopened = open_warehouse(target)
    assert await reopened.table_exists("shared")
    await reopened.close()


def test_open_warehouse_picks_the_backend_from_the_target(tmp_path: Path) -> None:
    assert isinstance(open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}"), DuckDBWarehouse)
    with pytest.raises(ConfigError):
        open_warehouse("duckdb://relative/path.duckdb")
    with pytest.raises(ConfigError):
        open_warehouse("mysql://localhost/db")
