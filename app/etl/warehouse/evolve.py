"""How a table's columns meet a batch's: add, widen, cast, drop, or refuse (pure logic)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.etl.contract_types import type_name, widens
from app.etl.errors import ContractViolation

if TYPE_CHECKING:
    from collections.abc import Mapping

    import polars as pl

    from app.etl.warehouse.protocol import NewColumns


@dataclass
class SchemaPlan:
    add: dict[str, pl.DataType] = field(default_factory=dict)
    """Columns the table gains (new_columns: evolve)."""
    widen: dict[str, pl.DataType] = field(default_factory=dict)
    """Table columns whose type widens to hold the incoming values."""
    cast: dict[str, pl.DataType] = field(default_factory=dict)
    """Incoming columns cast up to the table's wider type."""
    drop: list[str] = field(default_factory=list)
    """Incoming columns left out (new_columns: discard)."""

    @property
    def alters_table(self) -> bool:
        return bool(self.add or self.widen)


def plan_schema(
    table: str,
    existing: pl.Schema | None,
    incoming: pl.Schema,
    *,
    new_columns: NewColumns,
    declared: Mapping[str, pl.DataType] | None = None,
    types: bool = True,
) -> SchemaPlan:
    """What loading `incoming` into a table with columns `existing` takes.

    `types=False` (a replace) checks only which columns are new. Types in `declared` are
    the contract's: the table may not hold such a column as a wider type than declared,
    since that would narrow what the contract promises its readers.
    """
    plan = SchemaPlan()
    if existing is None:
        return plan
    for name, dtype in incoming.items():
        if name not in existing:
            _new_column(plan, table, name, dtype, new_columns)
        elif types and existing[name] != dtype:
            _changed_type(plan, table, name, existing[name], dtype, new_columns, declared or {})
    return plan


def _new_column(
    plan: SchemaPlan, table: str, name: str, dtype: pl.DataType, policy: NewColumns
) -> None:
    if policy == "evolve":
        plan.add[name] = dtype
    elif policy == "discard":
        plan.drop.append(name)
    else:
        raise ContractViolation(
            f"column `{name}` is not in table `{table}` and new_columns is freeze; "
            "add it to the table, or set new_columns to evolve or discard",
            details={"table": table, "column": name},
        )


def _changed_type(
    plan: SchemaPlan,
    table: str,
    name: str,
    stored: pl.DataType,
    dtype: pl.DataType,
    policy: NewColumns,
    declared: Mapping[str, pl.DataType],
) -> None:
    wanted = declared.get(name)
    if widens(dtype, stored) and (wanted is None or wanted == stored):
        plan.cast[name] = stored
        return
    if widens(stored, dtype) and policy != "freeze":
        plan.widen[name] = dtype
        return
    have, got = type_name(stored), type_name(dtype)
    if wanted is not None and widens(dtype, stored):
        reason = f"the contract declares {type_name(wanted)}, narrower than the table's {have}"
    elif widens(stored, dtype):
        reason = f"widening {have} to {got} is refused because new_columns is freeze"
    else:
        reason = f"{have} does not widen to {got}, nor {got} to {have}"
    raise ContractViolation(
        f"column `{name}` of table `{table}` is {have} but the data is {got}: {reason} "
        "(load with mode replace to change its type)",
        details={"table": table, "column": name, "table_type": have, "data_type": got},
    )
