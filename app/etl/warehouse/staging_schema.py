"""Fitting each batch to the table and to the run's staging table before it is written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from app.errors import WarehouseError
from app.etl.names import quote_ident
from app.etl.warehouse.apply import SEQUENCE_COLUMN, alter_statements
from app.etl.warehouse.evolve import SchemaPlan, plan_schema
from app.etl.warehouse.naming import short_identifier, stored_names

if TYPE_CHECKING:
    from app.etl.warehouse.database import Database
    from app.etl.warehouse.protocol import LoadOptions, Mode


class StagingSchema:
    """The staging table's columns so far, and how the next batch must change to fit.

    A batch is checked against the table first, with the contract's policy (a frozen
    table refuses a new column before anything is written), then against the staging
    table, which always evolves: a later batch may bring a column earlier ones lacked.
    """

    def __init__(
        self,
        db: Database,
        *,
        table: str,
        staging: str,
        mode: Mode,
        options: LoadOptions,
        target: pl.Schema | None,
        staged: pl.Schema | None,
        unlogged: bool = False,
    ) -> None:
        self._db = db
        self._unlogged = unlogged
        self._table = table
        self._staging = staging
        self._mode = mode
        self._options = options
        self._target = target
        self._columns: dict[str, pl.DataType] | None = (
            None
            if staged is None
            else {name: dtype for name, dtype in staged.items() if name != SEQUENCE_COLUMN}
        )
        self._declared = {
            short_identifier(name): db.stored_dtype(dtype)
            for name, dtype in options.declared.items()
        }

    def prepare(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, list[str], bool]:
        """(the batch to write, staging DDL to run first, whether that DDL creates it)."""
        names = stored_names(batch.columns)
        frame = batch.rename({old: new for old, new in names.items() if old != new})
        against_table = plan_schema(
            self._table,
            self._target,
            self._stored(frame),
            new_columns=self._options.new_columns,
            declared=self._declared,
            types=self._mode != "replace",
        )
        frame = _fit(frame.drop(against_table.drop), against_table)
        incoming = self._stored(frame)
        if self._columns is None:
            self._check_keys(incoming)
            self._columns = dict(incoming)
            return frame, [self._create_sql(frame.schema)], True
        against_staging = plan_schema(
            self._staging, pl.Schema(self._columns), incoming, new_columns="evolve"
        )
        self._columns.update(against_staging.add)
        self._columns.update(against_staging.widen)
        return (
            _fit(frame, against_staging),
            alter_statements(self._db, self._db.qualify(self._staging), against_staging),
            False,
        )

    def _stored(self, frame: pl.DataFrame) -> pl.Schema:
        return pl.Schema(
            {name: self._db.stored_dtype(dtype) for name, dtype in frame.schema.items()}
        )

    def _check_keys(self, incoming: pl.Schema) -> None:
        needed = [
            *self._options.keys,
            *([self._options.order_by] if self._options.order_by else []),
        ]
        for name in needed:
            if short_identifier(name) not in incoming:
                raise WarehouseError(
                    f"cannot merge into {self._table}: column `{name}` is not in the data "
                    f"(columns: {', '.join(incoming.names())})"
                )

    def _create_sql(self, schema: pl.Schema) -> str:
        columns = [
            f"{quote_ident(name)} {self._db.sql_type(dtype)}" for name, dtype in schema.items()
        ]
        if self._mode == "merge":
            columns.append(f"{quote_ident(SEQUENCE_COLUMN)} bigint")
        kind = "UNLOGGED TABLE" if self._unlogged else "TABLE"
        staging = self._db.qualify(self._staging)
        return f"CREATE {kind} IF NOT EXISTS {staging} ({', '.join(columns)})"


def _fit(frame: pl.DataFrame, plan: SchemaPlan) -> pl.DataFrame:
    if not plan.cast:
        return frame
    return frame.with_columns(pl.col(name).cast(dtype) for name, dtype in plan.cast.items())
