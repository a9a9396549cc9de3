"""The warehouse interface the engine loads through, whatever the backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import polars as pl

    from app.etl.warehouse.row_reads import RejectKey, RowFilter, RowsRead

Mode = Literal["append", "replace", "merge"]
NewColumns = Literal["evolve", "freeze", "discard"]


@dataclass(frozen=True)
class LoadOptions:
    """How a load treats the table beyond its mode (all optional)."""

    keys: tuple[str, ...] = ()
    """Merge keys (mode merge only)."""
    order_by: str | None = None
    """Among rows of one run with the same keys, the one with the greatest value wins."""
    new_columns: NewColumns = "evolve"
    declared: Mapping[str, pl.DataType] = field(default_factory=dict)
    """Types the contract declares: the table must hold them without narrowing."""
    pipeline: str = ""
    """Watermarks are kept per (pipeline, table)."""
    cursor: str | None = None
    """The incremental cursor column whose maximum becomes the watermark."""
    attempt: int = 1
    """The run's attempt: a later attempt takes the load over, fencing earlier ones."""


@dataclass(frozen=True)
class BatchStats:
    """One batch's counts, kept in the ledger so a resumed run reports the whole run."""

    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0
    cursor_max: Any = None
    """The largest cursor value the batch read (None without one)."""
    fingerprint: str | None = None
    """Where the batch starts and a hash of its ends: a resumed run checks it re-read
    the same batch."""


@dataclass(frozen=True)
class LoadTotals:
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0
    batches: int = 0
    watermark: Any = None


@dataclass(frozen=True)
class StoredWatermark:
    column: str
    value: Any


class TableLoad(Protocol):
    """One run's load into one table: invisible to readers until `commit`.

    Every batch commits on its own into the run's staging table, recorded in a ledger
    keyed by (run, batch); `commit` applies the whole run to the table (and moves the
    watermark) in one transaction.
    """

    @property
    def committed(self) -> Mapping[int, BatchStats]:
        """Batches an earlier attempt of this run already committed (resume skips them)."""
        ...

    @property
    def applied(self) -> LoadTotals | None:
        """Set when this run was already applied: there is nothing left to do."""
        ...

    @property
    def watermark(self) -> StoredWatermark | None:
        """The watermark of (pipeline, table) before this run."""
        ...

    async def write(self, batch: pl.DataFrame) -> None:
        """Write the next batch (numbered after the last one written or committed)."""
        ...

    async def write_batch(
        self,
        number: int,
        batch: pl.DataFrame,
        *,
        rejects: pl.DataFrame | None = None,
        stats: BatchStats | None = None,
    ) -> None:
        """Commit batch `number` to staging with its rejects; a no-op if already there."""
        ...

    async def commit(self) -> LoadTotals:
        """Apply the run to the table and move the watermark, in one transaction.

        A failed commit changes nothing and leaves the load open: `abort` it, or
        `suspend` it when the run will be retried.
        """
        ...

    async def abort(self) -> None:
        """Discard the run's staging, ledger and rejects: the warehouse is as before."""
        ...

    async def suspend(self) -> None:
        """Stop, keeping committed batches so a later attempt resumes after them."""
        ...


class TableReader(Protocol):
    """What a join reads its other side through: a warehouse, or a caller's view of it."""

    async def read_table(self, table: str) -> pl.DataFrame: ...


class Warehouse(Protocol):
    async def begin_load(
        self, *, table: str, mode: Mode, run_id: str, options: LoadOptions | None = None
    ) -> TableLoad: ...

    async def discard_run(self, run_id: str) -> None:
        """Remove what an unfinished run left (staging, ledger, rejects); idempotent."""
        ...

    async def forget_runs(self, run_ids: Sequence[str]) -> int:
        """Retention: drop what the warehouse keeps about these runs (rejects, ledger,
        an unfinished run's staging), never their loaded rows; the rejects removed."""
        ...

    async def read_table(self, table: str) -> pl.DataFrame:
        """The whole table (tests, previews); a missing one raises `TableNotFound`."""
        ...

    async def read_rows(
        self,
        table: str,
        *,
        where: Sequence[RowFilter] = (),
        limit: int | None = None,
        count: bool = False,
    ) -> RowsRead:
        """Rows matching every filter, at most `limit` (read by the warehouse, so only
        those leave it), and with `count` how many match in all. A filter on a column
        the table lacks raises `MissingColumn`; a missing table `TableNotFound`."""
        ...

    async def read_rejects(self, run_id: str) -> pl.DataFrame:
        """The rows a run quarantined, in source order."""
        ...

    async def read_rejects_page(
        self,
        run_id: str,
        *,
        where: Sequence[RowFilter] = (),
        after: RejectKey | None = None,
        limit: int,
    ) -> pl.DataFrame:
        """A page of a run's rejects (batch_no, source, row_number, reason, raw) after
        `after`, keeping those whose raw row has every filtered field allowed."""
        ...

    async def table_exists(self, table: str) -> bool: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
