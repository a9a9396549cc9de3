"""`FileSource`: what every file kind's config holds (its files, options, and format)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from app.errors import SourceInvalid
from app.etl.sources.config import SourceConfig
from app.etl.sources.files.location import LocalFiles, S3Files
from app.etl.sources.files.options import FileOptions

if TYPE_CHECKING:
    from pathlib import Path

    from app.etl.sources.files.format import FileFormat


class FileSource(SourceConfig):
    """A file kind: its files (local or S3) and how one file of them is read."""

    location: LocalFiles | S3Files = Field(discriminator="scheme")
    options: FileOptions

    @property
    def path(self) -> Path:
        """The one local file this source reads (for single-file readers)."""
        location = self.location
        if not isinstance(location, LocalFiles) or location.pattern:
            raise SourceInvalid(f"{self.uri!r} is not a single local file", path=["uri"])
        return location.base

    def file_format(self) -> FileFormat:
        """The format of each file (every file kind says which)."""
        raise NotImplementedError
