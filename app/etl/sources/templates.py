"""`{name}` placeholders in uris and params, filled from a run's params by whitelist only.

User text never goes through `str.format`: only `{identifier}` is a placeholder, and a
value may hold only characters that cannot change a path's directory or a glob's reach.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from app.errors import SourceInvalid

if TYPE_CHECKING:
    from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,62})\}")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_:+@=,-][A-Za-z0-9._:+@=,-]{0,127}")


def placeholders(text: str) -> list[str]:
    """The placeholder names in `text`; a stray brace is refused (it would be ambiguous)."""
    names = PLACEHOLDER.findall(text)
    if "{" in PLACEHOLDER.sub("", text) or "}" in PLACEHOLDER.sub("", text):
        raise SourceInvalid(
            f"{text!r}: braces are only allowed around a run param name, as in {{date}}",
            path=["uri"],
        )
    return names


def param_text(name: str, params: Mapping[str, Any]) -> str:
    """The run param `name` as text, checked to be a plain value (no '/', '..', '*')."""
    if name not in params:
        raise SourceInvalid(
            f"the source uses {{{name}}} but the run has no param `{name}`; "
            f"params given: {', '.join(sorted(params)) or 'none'}",
            path=["params", name],
        )
    value = params[name]
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    if isinstance(value, bool) or not _SAFE_VALUE.fullmatch(text):
        raise SourceInvalid(
            f"run param `{name}` = {text[:40]!r} is not a plain value (letters, digits and "
            "._:+@=,- only, not starting with a dot)",
            path=["params", name],
        )
    return text


def render(text: str, params: Mapping[str, Any]) -> str:
    """`text` with each `{name}` replaced by the run param `name`."""
    return PLACEHOLDER.sub(lambda match: param_text(match.group(1), params), text)
