"""Confining file sources to the configured roots, whatever `..` or symlinks say."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from app.errors import SourceInvalid

if TYPE_CHECKING:
    from collections.abc import Sequence


def local_path(uri: str) -> Path:
    """The path a source uri names: a plain path or a `file://` URL on this host."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in {"", "localhost"}:
            raise SourceInvalid(
                f"file URL {uri!r} names host {parts.netloc!r}; only local files can be read",
                path=["uri"],
            )
        return Path(unquote(parts.path))
    # One-letter schemes would be Windows drive letters; anything longer is a URL kind
    # this reader does not speak (s3://, http://).
    if len(parts.scheme) > 1:
        raise SourceInvalid(
            f"{parts.scheme}:// URLs are not supported here; give a local path or file:// URL",
            path=["uri"],
        )
    return Path(uri)


def confined_path(uri: str, allowed_roots: Sequence[Path]) -> Path:
    """The real path (symlinks resolved) of `uri`, which must lie inside an allowed root.

    Relative paths resolve against the first root.
    """
    if not uri.strip():
        raise SourceInvalid("the source uri is empty", path=["uri"])
    if not allowed_roots:
        raise SourceInvalid("no file roots are configured, so no file can be read", path=["uri"])
    path = local_path(uri)
    candidate = path if path.is_absolute() else Path(allowed_roots[0]) / path
    # realpath, not Path.resolve(strict=True): a file that does not exist yet still gets
    # its real location checked, and the read reports it missing later.
    real = Path(os.path.realpath(candidate))
    roots = [Path(os.path.realpath(root)) for root in allowed_roots]
    if not any(real.is_relative_to(root) for root in roots):
        shown = ", ".join(str(root) for root in roots)
        raise SourceInvalid(
            f"path {uri!r} escapes the allowed roots ({shown})",
            path=["uri"],
            details={"resolved": str(real)},
        )
    return real
