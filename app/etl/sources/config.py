"""Validated source configs, one model per kind, discriminated by `kind`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from app.errors import SourceInvalid
from app.etl.sources.http_options import HttpOptions
from app.etl.sources.options import CsvOptions, JsonOptions, ParquetOptions
from app.etl.sources.secrets import redact
from app.etl.sources.sql_options import SqlOptions

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class LocalFiles(BaseModel):
    """Files under an allowed root: `base` is real and confined; `pattern` is matched later."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: Literal["file"] = "file"
    roots: tuple[Path, ...]
    base: Path
    # Relative to `base`; may hold globs and {params}. "" when `base` is the one file.
    pattern: str = ""


class S3Files(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: Literal["s3"] = "s3"
    bucket: str
    # The key, or a key pattern with globs and {params}.
    key: str
    endpoint_url: str | None = None


def s3_location(uri: str, endpoint_url: str | None) -> S3Files:
    parts = urlsplit(uri)
    key = parts.path.removeprefix("/")
    if not _BUCKET.fullmatch(parts.netloc) or not key or parts.query or parts.fragment:
        raise SourceInvalid(
            f"{uri!r} is not an S3 URL of the form s3://bucket/key (a key may hold globs)",
            path=["uri"],
        )
    return S3Files(bucket=parts.netloc, key=key, endpoint_url=endpoint_url)


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str

    def public_uri(self) -> str:
        """The uri with any password removed."""
        parts = urlsplit(self.uri)
        if parts.password is None:
            return self.uri
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:***@" if parts.username else "***@"
        return urlunsplit(parts._replace(netloc=user + netloc))


class _FileSource(_Source):
    location: LocalFiles | S3Files = Field(discriminator="scheme")

    @property
    def path(self) -> Path:
        """The one local file this source reads (for single-file readers)."""
        location = self.location
        if not isinstance(location, LocalFiles) or location.pattern:
            raise SourceInvalid(f"{self.uri!r} is not a single local file", path=["uri"])
        return location.base


class CsvSource(_FileSource):
    kind: Literal["csv"] = "csv"
    options: CsvOptions = Field(default_factory=CsvOptions)

    def public_options(self) -> dict[str, Any]:
        return self.options.model_dump(mode="json", exclude_unset=True)


class JsonSource(_FileSource):
    """A JSON array of objects per file."""

    kind: Literal["json"] = "json"
    options: JsonOptions = Field(default_factory=JsonOptions)

    def public_options(self) -> dict[str, Any]:
        return self.options.model_dump(mode="json", exclude_unset=True)


class NdjsonSource(_FileSource):
    """One JSON object per line."""

    kind: Literal["ndjson"] = "ndjson"
    options: JsonOptions = Field(default_factory=JsonOptions)

    def public_options(self) -> dict[str, Any]:
        return self.options.model_dump(mode="json", exclude_unset=True)


class ParquetSource(_FileSource):
    kind: Literal["parquet"] = "parquet"
    options: ParquetOptions = Field(default_factory=ParquetOptions)

    def public_options(self) -> dict[str, Any]:
        return self.options.model_dump(mode="json", exclude_unset=True)


class HttpSource(_Source):
    kind: Literal["http"] = "http"
    options: HttpOptions = Field(default_factory=HttpOptions)
    allow_private_networks: bool = False

    def public_options(self) -> dict[str, Any]:
        redacted: dict[str, Any] = redact(self.options.model_dump(mode="json", exclude_unset=True))
        return redacted


class SqlSource(_Source):
    kind: Literal["sql"] = "sql"
    options: SqlOptions
    allow_private_networks: bool = False

    def public_options(self) -> dict[str, Any]:
        return self.options.model_dump(mode="json", exclude_unset=True)


FileSource: TypeAlias = CsvSource | JsonSource | NdjsonSource | ParquetSource
SourceConfig: TypeAlias = Annotated[
    CsvSource | JsonSource | NdjsonSource | ParquetSource | HttpSource | SqlSource,
    Field(discriminator="kind"),
]
FILE_KINDS: dict[str, type[FileSource]] = {
    "csv": CsvSource,
    "json": JsonSource,
    "ndjson": NdjsonSource,
    "parquet": ParquetSource,
}
KNOWN_KINDS = (*FILE_KINDS, "http", "sql")
