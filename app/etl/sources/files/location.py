"""Where a file source's files are (local roots or S3), and the policy check deciding it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from app.errors import SourceInvalid
from app.etl.sources.files.paths import confined_pattern
from app.etl.sources.templates import placeholders

if TYPE_CHECKING:
    from app.etl.sources.policy import SourcePolicy

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


def check_file_location(uri: str, policy: SourcePolicy) -> dict[str, Any]:
    """The policy check of every file kind: S3 at the configured endpoint, or paths
    confined to the allowed roots (the static part now, each match when it is read)."""
    placeholders(uri)
    location: LocalFiles | S3Files
    if uri.startswith("s3://"):
        location = s3_location(uri, policy.s3_endpoint_url)
    else:
        base, pattern = confined_pattern(uri, policy.allowed_roots)
        location = LocalFiles(roots=tuple(policy.allowed_roots), base=base, pattern=pattern)
    return {"location": location}
