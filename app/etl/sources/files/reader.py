"""The reader of the file kinds: list the files, reconcile their schemas, stream their rows."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, BinaryIO

import polars as pl

from app.errors import DataFlowError, SourceUnreadable
from app.etl.sources.batching import rebatch
from app.etl.sources.errors import located
from app.etl.sources.files.compression import codec_for, decompressed
from app.etl.sources.files.filestore import FileRef, FileStore, LocalStore
from app.etl.sources.files.location import LocalFiles
from app.etl.sources.files.options import TextOptions
from app.etl.sources.reader import SOURCE_COLUMN
from app.etl.sources.reconcile import conform, final_schema, reconcile
from app.etl.sources.threads import finish_in_thread, iterate_in_thread

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from app.etl.sources.files.config import FileSource
    from app.etl.sources.files.format import FileFormat
    from app.etl.sources.reader import ReadContext


# Files sampled at once for the schema: enough to overlap S3 latency, few enough for
# the worker threads of a 2-core machine.
SAMPLE_CONCURRENCY = 4


def _store(config: FileSource, context: ReadContext) -> FileStore:
    location = config.location
    if isinstance(location, LocalFiles):
        return LocalStore(location, context.params)
    # The S3 client (aioboto3, about 25 MB) is imported by the first S3 source a process
    # reads, not by every worker.
    from app.etl.sources.files.s3_store import S3Store

    return S3Store(location, context.params)


class FileReader:
    def __init__(self, config: FileSource, context: ReadContext) -> None:
        self._config = config
        self._context = context
        self._format: FileFormat = config.file_format()
        self._store = _store(config, context)
        self._files: list[tuple[FileRef, pl.Schema]] = []
        self._schema: pl.Schema | None = None

    async def schema(self) -> pl.Schema:
        if self._schema is None:
            listed = await self._store.list_files()
            newer = self._newer(listed)
            # With nothing newer, the latest file still gives the schema; no row is read.
            sampled = newer or listed[-1:]
            samples = list(zip(sampled, await self._sample_all(sampled), strict=True))
            # A file with no columns (an empty JSON array) says nothing about the schema.
            known = [(ref.name, schema) for ref, schema in samples if schema] or [("", pl.Schema())]
            union = self._config.options.union_by_name
            self._schema = final_schema(reconcile(known, union_by_name=union))
            self._files = samples if newer else []
        return self._schema

    def _newer(self, files: list[FileRef]) -> list[FileRef]:
        """Incremental by file name: with the watermark on SOURCE_COLUMN, later names only."""
        watermark = self._context.watermark
        if watermark is None or watermark.column != SOURCE_COLUMN:
            return files
        return [ref for ref in files if ref.name > str(watermark.value)]

    async def _sample_all(self, refs: list[FileRef]) -> list[pl.Schema]:
        """Each file's own schema, a few files at a time (S3 round trips overlap)."""
        limit = asyncio.Semaphore(SAMPLE_CONCURRENCY)

        async def sample(ref: FileRef) -> pl.Schema:
            async with limit:
                return await finish_in_thread(self._sample, ref)

        results = await asyncio.gather(*(sample(ref) for ref in refs), return_exceptions=True)
        # The first failure in name order, whichever finished first: errors are stable.
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [result for result in results if isinstance(result, pl.Schema)]

    def _sample(self, ref: FileRef) -> pl.Schema:
        with located(ref.name), self._open(ref) as handle:
            return self._format.sample(handle)

    async def batches(self, batch_rows: int) -> AsyncIterator[pl.DataFrame]:
        target = await self.schema()
        async for batch in rebatch(self._frames(target, batch_rows), batch_rows):
            yield batch

    async def _frames(self, target: pl.Schema, batch_rows: int) -> AsyncIterator[pl.DataFrame]:
        for ref, file_schema in self._files:
            frames = self._file_frames(ref, file_schema, target, batch_rows)
            async for frame in iterate_in_thread(frames):
                yield frame

    def _file_frames(
        self, ref: FileRef, file_schema: pl.Schema, target: pl.Schema, batch_rows: int
    ) -> Iterator[pl.DataFrame]:
        name = pl.lit(ref.name, pl.String).alias(SOURCE_COLUMN)
        with located(ref.name), self._open(ref) as handle:
            for frame in self._format.frames(handle, file_schema, target, batch_rows):
                yield conform(frame.with_columns(name), target, self._format.row_label)

    @contextlib.contextmanager
    def _open(self, ref: FileRef) -> Iterator[BinaryIO]:
        raw = self._store.open(ref, seekable=self._format.seekable)
        try:
            options = self._config.options
            compression = options.compression if isinstance(options, TextOptions) else "none"
            codec = codec_for(ref.name, compression)
            with decompressed(raw, codec) as handle:
                yield handle
        except OSError as error:  # reading failed midway (a disk error, a lost mount)
            raise SourceUnreadable(f"cannot read: {error.strerror or error}") from None
        finally:
            raw.close()

    async def aclose(self) -> None:
        with contextlib.suppress(DataFlowError):
            await self._store.aclose()
