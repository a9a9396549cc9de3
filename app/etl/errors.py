"""ETL-specific errors, refinements of the shared hierarchy in `app.errors`."""

from __future__ import annotations

from app.errors import DataFlowError, NotFound, Terminal, WarehouseError


class TableNotFound(WarehouseError, NotFound):
    """The warehouse has no table of that name (read before any load created it)."""

    code = "TABLE_NOT_FOUND"


class ContractViolation(DataFlowError, Terminal):
    """Data breaks the pipeline's contract: a bad row with `bad_rows: fail`, a new column
    under `new_columns: freeze`, or a type change that is not a safe widening."""

    code = "CONTRACT_VIOLATION"


class SourceChanged(DataFlowError, Terminal):
    """A resumed run re-read batches that differ from the ones its earlier attempt loaded."""

    code = "SOURCE_CHANGED"
