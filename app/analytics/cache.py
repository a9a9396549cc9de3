"""Results kept in memory, least recently used first out, within a byte budget.

Keys carry the dataset's version, so a load makes older entries unreachable; they are
dropped as soon as a newer version of their dataset is seen, not left to age out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Hashable

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class CacheKey:
    dataset: str
    version: int
    query: Hashable  # the compiled statement and its parameters: the normalised query
    scope: Hashable


class ResultCache(Generic[_V]):
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[CacheKey, tuple[_V, int]] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> _V | None:
        with self._lock:
            self._note_version(key)
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: CacheKey, value: _V, size: int) -> None:
        if size > self.max_bytes:
            return  # would evict everything else and still not fit
        with self._lock:
            self._note_version(key)
            if key.version < self._versions[key.dataset]:
                return  # answered from data a load has since replaced
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, freed) = self._entries.popitem(last=False)
                self._bytes -= freed

    def _note_version(self, key: CacheKey) -> None:
        """Drop a dataset's entries once a newer version of it is seen."""
        seen = self._versions.get(key.dataset)
        if seen is not None and key.version <= seen:
            return
        self._versions[key.dataset] = key.version
        if seen is None:
            return
        stale = [k for k in self._entries if k.dataset == key.dataset and k.version < key.version]
        for old in stale:
            self._bytes -= self._entries.pop(old)[1]
