"""Decompressing gzip and zstd file streams as they are read (never whole in memory)."""

from __future__ import annotations

import gzip
import io
import zlib
from typing import TYPE_CHECKING, BinaryIO, Literal, Protocol

import zstandard

from app.errors import SourceMalformed

if TYPE_CHECKING:
    from app.etl.sources.files.options import Compression

Codec = Literal["none", "gzip", "zstd"]
_SUFFIXES: dict[str, Codec] = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
BUFFER_BYTES = 1024 * 1024


class _Stream(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


def codec_for(name: str, option: Compression) -> Codec:
    """The codec an option names, or for "auto" the one the file name's extension says."""
    if option != "auto":
        return option
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return _SUFFIXES.get(suffix, "none")


def decompressed(handle: BinaryIO, codec: Codec) -> BinaryIO:
    """A buffered reader of `handle`'s decompressed bytes; corrupt data is SOURCE_MALFORMED."""
    if codec == "none":
        return handle
    inner: _Stream
    if codec == "gzip":
        inner = gzip.GzipFile(fileobj=handle, mode="rb")
    else:
        inner = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
    return io.BufferedReader(_Checked(inner, codec), BUFFER_BYTES)


class _Checked(io.RawIOBase):
    """Turns a codec's own errors into one typed error that names the codec."""

    def __init__(self, inner: _Stream, codec: Codec) -> None:
        self._inner = inner
        self._codec = codec

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except (gzip.BadGzipFile, EOFError, zlib.error, zstandard.ZstdError) as error:
            raise SourceMalformed(f"the file is not valid {self._codec} data ({error})") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()
