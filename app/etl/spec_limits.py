"""Caps on a pipeline spec's size, checked on the raw JSON before anything parses it.

A spec's cost to check grows with its steps and expressions; without a cap one request
could keep a worker thread (and, before, the API's event loop) busy for minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.errors import SpecTooLarge
from app.etl.validation import describe_path

if TYPE_CHECKING:
    from app.config import Settings


@dataclass(frozen=True)
class SpecLimits:
    """The defaults are the settings' defaults (`SPEC_MAX_*`)."""

    max_steps: int = 200
    max_text_chars: int = 10_000
    """Any one string in the spec: an expression, a name, a key."""
    max_depth: int = 16
    """Objects and lists inside one another; the deepest real spec nests about 6."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SpecLimits:
        return cls(
            max_steps=settings.spec_max_steps,
            max_text_chars=settings.spec_max_expression_chars,
            max_depth=settings.spec_max_depth,
        )


def check_spec_size(raw: object, limits: SpecLimits | None = None) -> None:
    """Raise `SpecTooLarge` naming the limit and the place in the spec that passes it."""
    limits = limits or SpecLimits()
    if not isinstance(raw, Mapping):
        return  # not a spec at all: parse_spec says so
    steps = raw.get("steps")
    if isinstance(steps, list) and len(steps) > limits.max_steps:
        raise _too_large(
            ["steps"],
            f"{len(steps)} steps; a spec may have at most {limits.max_steps} (SPEC_MAX_STEPS)",
            limit=limits.max_steps,
            size=len(steps),
        )
    _check_nodes(raw, limits)


def _check_nodes(raw: Mapping[str, Any], limits: SpecLimits) -> None:
    # Iterative on purpose: the spec may nest deeper than Python's recursion limit.
    pending: list[tuple[object, list[str], int]] = [(raw, [], 1)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            _check_text(value, path, limits)
            continue
        if isinstance(value, Mapping):
            children = [(str(key), item) for key, item in value.items()]
        elif isinstance(value, list):
            children = [(str(index), item) for index, item in enumerate(value)]
        else:
            continue
        if depth > limits.max_depth:
            raise _too_large(
                path,
                f"nested deeper than {limits.max_depth} levels of objects and lists "
                "(SPEC_MAX_DEPTH)",
                limit=limits.max_depth,
            )
        for key, item in children:
            if isinstance(value, Mapping):
                _check_text(key, [*path, key[:100]], limits)
            pending.append((item, [*path, key], depth + 1))


def _check_text(text: str, path: list[str], limits: SpecLimits) -> None:
    if len(text) > limits.max_text_chars:
        raise _too_large(
            path,
            f"{len(text):,} characters; at most {limits.max_text_chars:,} "
            "(SPEC_MAX_EXPRESSION_CHARS)",
            limit=limits.max_text_chars,
            size=len(text),
        )


def _too_large(path: list[str], what: str, *, limit: int, size: int | None = None) -> SpecTooLarge:
    details: dict[str, Any] = {"limit": limit}
    if size is not None:
        details["size"] = size
    return SpecTooLarge(f"{describe_path(path)}: {what}", path=path, details=details)
