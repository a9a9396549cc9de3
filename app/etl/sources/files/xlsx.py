"""The `xlsx` kind: one sheet of each Excel workbook, read by Polars through fastexcel (calamine).

A workbook is a zip whose directory is at its end, and calamine loads a sheet whole:
a file is read at once (up to `max_bytes`), from S3 through a temporary copy.
ROW_COLUMN counts records (the first data row is 1), as for the other non-line formats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Literal

import polars as pl
from pydantic import Field

from app.errors import SourceInvalid, SourceMalformed
from app.etl.sources.files.config import FileSource
from app.etl.sources.files.options import FileOptions
from app.etl.sources.reader import ROW_COLUMN
from app.etl.sources.reconcile import sample_schema

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.etl.sources.files.format import FileFormat


class XlsxOptions(FileOptions):
    # A sheet's name, or its position (1 is the first sheet, as Excel counts).
    sheet: Annotated[int, Field(ge=1)] | str = 1
    header: bool = True
    # Rows above the header (or above the data, without a header): a title, notes.
    skip_rows: int = Field(default=0, ge=0, le=1_000_000)
    # False reads every cell as String, so the contract decides (and quarantines) per row.
    infer_types: bool = True
    # A sheet is loaded whole: refuse workbooks past this size.
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1, le=4 * 1024 * 1024 * 1024)


class XlsxSource(FileSource):
    kind: Literal["xlsx"] = "xlsx"
    options: XlsxOptions = Field(default_factory=XlsxOptions)

    def file_format(self) -> FileFormat:
        return XlsxFormat(self.options)


class XlsxFormat:
    seekable = True
    row_label = "record"

    def __init__(self, options: XlsxOptions) -> None:
        self._options = options

    def sample(self, handle: BinaryIO) -> pl.Schema:
        return sample_schema(self._read(handle), self._options.infer_types)

    def frames(
        self, handle: BinaryIO, file_schema: pl.Schema, target: pl.Schema, batch_rows: int
    ) -> Iterator[pl.DataFrame]:
        del file_schema, target  # frames are conformed by the caller
        frame = self._read(handle)
        rows = pl.int_range(1, frame.height + 1, dtype=pl.Int64, eager=True)
        yield from frame.with_columns(rows.alias(ROW_COLUMN)).iter_slices(batch_rows)

    def _read(self, handle: BinaryIO) -> pl.DataFrame:
        import fastexcel  # here, not above: a kind's library loads when it is read

        data = _workbook_bytes(handle, self._options.max_bytes)
        sheet = _sheet_name(data, self._options.sheet)
        try:
            frame = pl.read_excel(
                data,
                sheet_name=sheet,
                engine="calamine",
                read_options=self._read_options(),
                infer_schema_length=None,  # the sheet is in memory: type from every row
                raise_if_empty=False,
            )
        except (fastexcel.FastExcelError, pl.exceptions.PolarsError) as error:
            raise SourceMalformed(
                f"sheet {sheet!r}: cannot read it ({_first_line(error)})"
            ) from None
        assert isinstance(frame, pl.DataFrame)  # one sheet asked, one frame
        return frame

    def _read_options(self) -> dict[str, Any]:
        options = self._options
        read: dict[str, Any] = (
            {"header_row": options.skip_rows}
            if options.header
            else {"header_row": None, "skip_rows": options.skip_rows}
        )
        if not options.infer_types:
            read["dtypes"] = "string"
        return read


def _workbook_bytes(handle: BinaryIO, limit: int) -> bytes:
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise SourceMalformed(
            f"the workbook is over max_bytes ({limit} bytes): a sheet is read whole; "
            "raise max_bytes, or export the sheet as CSV"
        )
    return data


def _sheet_name(data: bytes, sheet: int | str) -> str:
    """The name of the sheet the option means, or SOURCE_INVALID listing the sheets there are."""
    import fastexcel  # here, not above: a kind's library loads when it is read

    try:
        names = fastexcel.read_excel(data).sheet_names
    except fastexcel.FastExcelError as error:
        raise SourceMalformed(f"not a readable Excel workbook ({_first_line(error)})") from None
    if isinstance(sheet, int) and sheet <= len(names):
        return names[sheet - 1]
    if isinstance(sheet, str) and sheet in names:
        return sheet
    raise SourceInvalid(
        f"options.sheet: the workbook has no sheet {sheet!r}; its sheets are: {', '.join(names)}",
        path=["options", "sheet"],
        details={"sheets": names},
    )


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
