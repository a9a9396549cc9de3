"""Files in an S3 bucket (aioboto3): listing a key glob, and reading objects as streams.

Parsers run in worker threads and read plain file objects; `_ObjectStream` hands each
of their reads to the event loop, where aioboto3 does the network I/O.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import tempfile
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, BinaryIO

from app.errors import DataFlowError, SourceInvalid, SourceUnreadable
from app.etl.sources.errors import SourceNoFiles, SourceRequestFailed, SourceUnavailable
from app.etl.sources.files.filestore import FileRef
from app.etl.sources.templates import render

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping

    from app.etl.sources.files.location import S3Files

_GLOB_CHARS = re.compile(r"[*?\[]")
# botocore retries throttling and dropped connections itself; past that the error is
# SOURCE_UNAVAILABLE and the run's own retry (with its backoff) takes over.
_CONFIG = {
    "connect_timeout": 10,
    "read_timeout": 60,
    "retries": {"max_attempts": 3, "mode": "standard"},
}
_MISSING = {"NoSuchKey", "404", "NotFound"}
_RETRYABLE = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "503", "500"}


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A key glob as a regex: `*` and `?` stay within a `/` segment, `**` spans them."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        end = pattern.find("]", index + 2) if char == "[" else -1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif end != -1:
            body = pattern[index + 1 : end]
            negate = body.startswith("!")
            # Ranges (a-z) stay ranges; only what regex gives a meaning of its own is escaped.
            inner = body.removeprefix("!").replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{'^' if negate else ''}{inner}]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out))


def s3_error(error: Exception, what: str) -> DataFlowError:
    """An S3 failure as a typed error: transient when a retry later could help."""
    from botocore.exceptions import (  # type: ignore[import-untyped]  # here, not above: a kind's library loads when it is read
        BotoCoreError,
        ClientError,
        NoCredentialsError,
    )

    if isinstance(error, NoCredentialsError):
        return SourceInvalid(
            f"{what}: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or another source of the standard AWS chain, on the workers)"
        )
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return SourceNoFiles(f"{what}: no such object", details={"file": what})
        if code in _RETRYABLE:
            return SourceUnavailable(f"{what}: S3 is unavailable ({code})")
        return SourceRequestFailed(f"{what}: S3 refused the request ({code})")
    if isinstance(error, BotoCoreError | OSError | asyncio.TimeoutError):
        return SourceUnavailable(f"{what}: cannot reach S3 ({error})")
    return SourceUnreadable(f"{what}: {error}")


class S3Store:
    def __init__(self, location: S3Files, params: Mapping[str, Any]) -> None:
        self._location = location
        self._params = params
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _s3(self) -> Any:
        if self._client is None:
            self._loop = asyncio.get_running_loop()
            import aioboto3  # here, not above: a kind's library loads when it is read
            from aiobotocore.config import AioConfig  # type: ignore[import-untyped]

            session = aioboto3.Session()  # credentials: the standard AWS chain
            config = AioConfig(**_CONFIG)
            self._client = await self._stack.enter_async_context(
                session.client("s3", endpoint_url=self._location.endpoint_url, config=config)
            )
        return self._client

    async def list_files(self) -> list[FileRef]:
        bucket, key = self._location.bucket, render(self._location.key, self._params)
        try:
            if not _GLOB_CHARS.search(key):
                await (await self._s3()).head_object(Bucket=bucket, Key=key)
                return [FileRef(key, key)]
            keys = await self._matching(bucket, key)
        except Exception as error:
            raise s3_error(error, f"s3://{bucket}/{key}") from None
        if not keys:
            raise SourceNoFiles(f"no object matches s3://{bucket}/{key}", details={"pattern": key})
        return [FileRef(found, found) for found in sorted(keys)]

    async def _matching(self, bucket: str, pattern: str) -> list[str]:
        prefix = pattern[: _GLOB_CHARS.search(pattern).start()]  # type: ignore[union-attr]
        regex = glob_regex(pattern)
        pages = (
            (await self._s3())
            .get_paginator("list_objects_v2")
            .paginate(Bucket=bucket, Prefix=prefix)
        )
        keys: list[str] = []
        async for page in pages:
            found: list[str] = [item["Key"] for item in page.get("Contents", [])]
            keys += [key for key in found if regex.fullmatch(key)]
        return keys

    def open(self, ref: FileRef, *, seekable: bool) -> BinaryIO:
        stream = io.BufferedReader(_ObjectStream(self, ref), 1024 * 1024)
        if not seekable:
            return stream
        # Parquet reads its footer first: such files are downloaded to a temporary file,
        # deleted when closed.
        copy = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
        with stream:
            shutil.copyfileobj(stream, copy, 1024 * 1024)
        copy.seek(0)
        return copy

    def run(self, coroutine: Coroutine[Any, Any, Any], what: str) -> Any:
        """Run `coroutine` on the reader's event loop from a worker thread."""
        assert self._loop is not None  # list() ran first, on the loop
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
        except DataFlowError:
            raise
        except Exception as error:
            raise s3_error(error, what) from None

    async def get_body(self, ref: FileRef) -> Any:
        client = await self._s3()
        response = await client.get_object(Bucket=self._location.bucket, Key=ref.location)
        return response["Body"]

    def describe(self, ref: FileRef) -> str:
        return f"s3://{self._location.bucket}/{ref.location}"

    async def aclose(self) -> None:
        await self._stack.aclose()


class _ObjectStream(io.RawIOBase):
    """An S3 object's body as a blocking raw stream (for worker threads only)."""

    def __init__(self, store: S3Store, ref: FileRef) -> None:
        self._store = store
        self._ref = ref
        self._what = store.describe(ref)
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._body is None:
            self._body = self._store.run(self._store.get_body(self._ref), self._what)
        data: bytes = self._store.run(self._body.read(len(buffer)), self._what)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._body is not None:
            self._body.close()  # releases the connection, even when read only in part
            self._body = None
        super().close()
