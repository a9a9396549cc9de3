"""What happens to one batch between the reader and the warehouse (blocking: in a thread).

Contract first (declared casts, required columns, checks: bad rows split off with their
source location), then the incremental filter, then the streaming steps; finally merge
keys are checked and the location columns dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.etl.contract_rows import REJECT_SCHEMA, RowRules, split_rows
from app.etl.errors import ContractViolation
from app.etl.incremental import batch_maximum, newer_than
from app.etl.partitions import split_window
from app.etl.sources.reader import LOCATION_COLUMNS, ROW_COLUMN, SOURCE_COLUMN
from app.etl.transform import compile_steps, run_transform
from app.etl.warehouse.protocol import BatchStats

if TYPE_CHECKING:
    from app.etl.spec import PipelineSpec
    from app.etl.step_base import StepContext
    from app.etl.steps import Step
    from app.etl.warehouse.protocol import PartitionWindow, StoredWatermark


@dataclass(frozen=True)
class Processed:
    """A batch ready to load (no location columns), its rejects and its counts."""

    frame: pl.DataFrame
    rejects: pl.DataFrame
    stats: BatchStats


class BatchProcessor:
    def __init__(
        self,
        spec: PipelineSpec,
        *,
        steps: list[Step],
        context: StepContext,
        watermark: StoredWatermark | None,
        window: PartitionWindow | None = None,
    ) -> None:
        contract = spec.contract
        self._cursor = spec.incremental.cursor if spec.incremental else None
        self._source_rules = RowRules.for_source(contract, self._cursor)
        merge_keys = spec.destination.keys if spec.destination.mode == "merge" else None
        self._output_rules = RowRules.for_output(merge_keys or [])
        self.fail_on_bad_rows = contract is not None and contract.bad_rows == "fail"
        self._watermark = watermark
        self._window = window
        self._steps = steps
        self._context = context
        self._compiled = compile_steps(steps, context)

    def head(self, raw: pl.DataFrame) -> Processed:
        """Contract, watermark and the streaming steps; location columns still there."""
        clean, rejects = split_rows(raw, self._source_rules)
        self._check_bad_rows(rejects)
        cursor_max = batch_maximum(clean, self._cursor) if self._cursor else None
        if self._watermark is not None and self._cursor in clean.columns:
            dtype = clean.schema[self._cursor]
            clean = clean.filter(newer_than(self._cursor, self._watermark.value, dtype))
        frame = run_transform(self._steps, clean, self._compiled, self._context)
        stats = BatchStats(
            rows_read=raw.height,
            rows_written=frame.height,
            rows_rejected=rejects.height,
            rows_filtered=raw.height - rejects.height - frame.height,
            cursor_max=cursor_max,
            fingerprint=fingerprint(raw),
        )
        return Processed(frame, rejects, stats)

    def finish(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(the rows to load, without location columns; rows with a null merge key or,
        in a partitioned run, outside its window)."""
        rejects = pl.DataFrame(schema=REJECT_SCHEMA)
        if self._output_rules is not None:
            frame, rejects = split_rows(frame, self._output_rules)
            self._check_bad_rows(rejects)
        if self._window is not None:
            frame, outside = split_window(frame, self._window)
            self._check_bad_rows(outside)
            rejects = pl.concat([rejects, outside]) if outside.height else rejects
        return frame.drop(LOCATION_COLUMNS, strict=False), rejects

    def process(self, raw: pl.DataFrame) -> Processed:
        """The whole way, for pipelines without a blocking stage."""
        head = self.head(raw)
        frame, late = self.finish(head.frame)
        rejected = head.stats.rows_rejected + late.height
        stats = BatchStats(
            rows_read=head.stats.rows_read,
            rows_written=frame.height,
            rows_rejected=rejected,
            rows_filtered=head.stats.rows_read - rejected - frame.height,
            cursor_max=head.stats.cursor_max,
            fingerprint=head.stats.fingerprint,
        )
        rejects = pl.concat([head.rejects, late]) if late.height else head.rejects
        return Processed(frame, rejects, stats)

    def _check_bad_rows(self, rejects: pl.DataFrame) -> None:
        if not self.fail_on_bad_rows or not rejects.height:
            return
        source, row, reason = rejects.row(0)[:3]
        where = f" at {source}:{row}" if source is not None else ""
        raise ContractViolation(
            f"{reason}{where} (bad_rows is fail; {rejects.height} bad row(s) in this batch)",
            details={"source": source, "row": row, "reason": reason},
        )


def fingerprint(raw: pl.DataFrame) -> str | None:
    """`source:row#hash` of a batch: where it starts, and a hash of its first and last
    rows. A resumed run compares it to tell the batch it re-read from a changed one;
    hashing two rows keeps it cheap."""
    if not raw.height:
        return None
    ends = pl.concat([raw.head(1), raw.tail(1)]).hash_rows(seed=7)
    digest = f"{ends[0]:x}{ends[1]:x}"
    if SOURCE_COLUMN not in raw.columns or ROW_COLUMN not in raw.columns:
        return f"#{digest}"
    source: Any = raw.get_column(SOURCE_COLUMN)[0]
    row: Any = raw.get_column(ROW_COLUMN)[0]
    return f"{source}:{row}#{digest}"
