"""Confining file sources to the configured roots, whatever `..`, globs or symlinks say."""

from __future__ import annotations

import glob
import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from app.errors import SourceInvalid

if TYPE_CHECKING:
    from collections.abc import Sequence

# A path part holding one of these is matched at read time (a glob or a run param).
DYNAMIC_CHARS = frozenset("*?[{")


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
    # this reader does not speak (s3:// is parsed before this, http:// is the http kind).
    if len(parts.scheme) > 1:
        raise SourceInvalid(
            f"{parts.scheme}:// URLs are not supported here; give a local path, a file:// "
            "URL or an s3:// URL",
            path=["uri"],
        )
    return Path(uri)


def is_dynamic(part: str) -> bool:
    return not DYNAMIC_CHARS.isdisjoint(part)


def split_pattern(path: PurePosixPath | Path) -> tuple[list[str], list[str]]:
    """(static parts, dynamic parts): the dynamic ones start at the first glob or {param}."""
    parts = list(path.parts)
    for index, part in enumerate(parts):
        if is_dynamic(part):
            return parts[:index], parts[index:]
    return parts, []


def confined_pattern(uri: str, allowed_roots: Sequence[Path]) -> tuple[Path, str]:
    """(real base directory or file, the dynamic rest) for a uri that may hold a glob.

    The static part is confined now; each match is confined again when it is read, so a
    glob cannot reach out through `..` or a symlink either. Relative paths resolve
    against the first root.
    """
    path = _absolute(uri, allowed_roots)
    static, dynamic = split_pattern(path)
    if ".." in dynamic:
        raise SourceInvalid(f"{uri!r}: '..' may not follow a glob or a {{param}}", path=["uri"])
    base = confine(Path(*static), allowed_roots, uri)
    return base, "/".join(dynamic)


def _absolute(uri: str, allowed_roots: Sequence[Path]) -> Path:
    if not uri.strip():
        raise SourceInvalid("the source uri is empty", path=["uri"])
    if not allowed_roots:
        raise SourceInvalid("no file roots are configured, so no file can be read", path=["uri"])
    path = local_path(uri)
    return path if path.is_absolute() else Path(allowed_roots[0]) / path


def confine(path: Path, allowed_roots: Sequence[Path], uri: str) -> Path:
    """`path` resolved (realpath), or SOURCE_INVALID when that leaves every root."""
    # realpath, not Path.resolve(strict=True): a file that does not exist yet still gets
    # its real location checked, and the read reports it missing later.
    real = Path(os.path.realpath(path))
    if containing_root(real, allowed_roots) is None:
        shown = ", ".join(str(Path(os.path.realpath(root))) for root in allowed_roots)
        raise SourceInvalid(
            f"path {uri!r} escapes the allowed roots ({shown})",
            path=["uri"],
            details={"resolved": str(real)},
        )
    return real


def containing_root(real: Path, allowed_roots: Sequence[Path]) -> Path | None:
    for root in allowed_roots:
        real_root = Path(os.path.realpath(root))
        if real.is_relative_to(real_root):
            return real_root
    return None


def glob_files(base: Path, pattern: str) -> list[Path]:
    """Regular files under `base` matching `pattern` (`**` spans directories), sorted."""
    matches = glob.glob(pattern, root_dir=base, recursive=True)
    return sorted(base / match for match in matches if (base / match).is_file())
