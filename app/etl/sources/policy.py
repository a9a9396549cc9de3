"""What sources may reach: file roots, private networks, the S3 endpoint (from settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings


@dataclass(frozen=True)
class SourcePolicy:
    allowed_roots: tuple[Path, ...]
    allow_private_networks: bool = False
    s3_endpoint_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SourcePolicy:
        return cls(
            allowed_roots=tuple(settings.allowed_file_roots),
            allow_private_networks=settings.allow_private_networks,
            s3_endpoint_url=settings.s3_endpoint_url,
        )
