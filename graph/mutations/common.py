"""Helpers the mutation modules share: JSON objects in, typed errors out."""

from __future__ import annotations

from typing import Any

from strawberry.scalars import JSON

from app.errors import InvalidInput


def json_object(value: JSON | None, name: str) -> dict[str, Any] | None:
    """A JSON argument that must be an object (or absent)."""
    if value is None or isinstance(value, dict):
        return value
    raise InvalidInput(f"{name} must be a JSON object", path=[name])
