"""Bounding how deeply a JSON text nests, checked on the raw text before any parser sees it.

Recursive parsers (Python's `json`, and the readers built on it) fail with RecursionError
or worse on input nested thousands deep; one linear scan that skips strings finds the
depth without recursing, so deep input is refused with its limit and position instead.
"""

from __future__ import annotations

import re
from itertools import accumulate

MAX_JSON_DEPTH = 64
"""Arrays and objects inside one another; real payloads and specs nest well under this."""

# A JSON string, escapes included (the unrolled form, linear on any input).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN, _CLOSE = b"[{", b"]}"
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_STEP = dict.fromkeys(_OPEN, 1) | dict.fromkeys(_CLOSE, -1)


class JsonTooDeep(ValueError):
    """The text nests arrays/objects deeper than the limit; `depth` is how deep it got."""

    def __init__(self, limit: int, depth: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels (arrays and objects)")
        self.limit = limit
        self.depth = depth


def json_depth(data: str | bytes) -> int:
    """The deepest nesting of arrays and objects in the text (0 for a scalar)."""
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[byte] for byte in brackets), default=0)


def check_json_depth(data: str | bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise `JsonTooDeep` when the text nests deeper than `limit`."""
    depth = json_depth(data)
    if depth > limit:
        raise JsonTooDeep(limit, depth)
