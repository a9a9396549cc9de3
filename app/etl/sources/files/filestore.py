"""Where a file source's files live: listing them in a stable order, opening each one.

Local files are re-confined to the roots when listed and again when opened, so neither a
glob nor a symlink planted after parsing reaches outside them.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from app.errors import SourceInvalid, SourceUnreadable
from app.etl.sources.errors import SourceNoFiles
from app.etl.sources.files.paths import containing_root, glob_files
from app.etl.sources.templates import render

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from app.etl.sources.files.location import LocalFiles


@dataclass(frozen=True, slots=True)
class FileRef:
    """One file: `name` is what rows report as their source (relative to root or bucket)."""

    name: str
    location: str


class FileStore(Protocol):
    async def list_files(self) -> list[FileRef]:
        """The files to read, sorted by name; SOURCE_NO_FILES when there are none."""
        ...

    def open(self, ref: FileRef, *, seekable: bool) -> BinaryIO:
        """Open for reading; called in a worker thread."""
        ...

    async def aclose(self) -> None: ...


class LocalStore:
    def __init__(self, location: LocalFiles, params: Mapping[str, Any]) -> None:
        self._location = location
        self._params = params

    async def list_files(self) -> list[FileRef]:
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[FileRef]:
        location = self._location
        if not location.pattern:
            paths = [location.base]
            if not location.base.is_file():
                raise SourceNoFiles(
                    f"{self._shown(location.base)} does not exist or is not a file",
                    details={"file": self._shown(location.base)},
                )
        else:
            pattern = render(location.pattern, self._params)
            paths = glob_files(location.base, pattern)
            if not paths:
                where = self._shown(location.base / pattern)
                raise SourceNoFiles(f"no file matches {where}", details={"pattern": where})
        refs = [FileRef(self._shown(path), str(self._confined(path))) for path in paths]
        return sorted(refs, key=lambda ref: ref.name)

    def _confined(self, path: Path) -> Path:
        real = Path(os.path.realpath(path))
        if containing_root(real, self._location.roots) is None:
            raise SourceInvalid(
                f"{self._shown(path)} links outside the allowed roots", path=["uri"]
            )
        return real

    def _shown(self, path: Path) -> str:
        root = containing_root(path, self._location.roots)
        return str(path.relative_to(root)) if root else path.name

    def open(self, ref: FileRef, *, seekable: bool) -> BinaryIO:
        del seekable  # local files always are
        path = Path(ref.location)
        # Listed and confined moments ago; a link swapped in since must not redirect.
        if os.path.realpath(path) != str(path):
            raise SourceInvalid(f"{ref.name} became a link after it was listed; not read")
        try:
            return path.open("rb")
        except OSError as error:
            raise SourceUnreadable(
                f"cannot read {ref.name}: {error.strerror or error}", details={"file": ref.name}
            ) from None

    async def aclose(self) -> None:
        return None
