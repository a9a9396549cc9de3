"""The result cache: least recently used out, by bytes; older versions dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.analytics.cache import CacheKey, ResultCache

if TYPE_CHECKING:
    from collections.abc import Hashable


def key(query: str, version: int = 1, dataset: str = "orders", scope: Hashable = ()) -> CacheKey:
    return CacheKey(dataset, version, query, scope)


def test_least_recently_used_entries_leave_first_within_the_budget() -> None:
    cache: ResultCache[str] = ResultCache(max_bytes=300)
    cache.put(key("a"), "A", 100)
    cache.put(key("b"), "B", 100)
    cache.put(key("c"), "C", 100)
    assert cache.get(key("a")) == "A"  # now the most recent
    cache.put(key("d"), "D", 100)
    assert cache.get(key("b")) is None
    assert [cache.get(key(q)) for q in "acd"] == ["A", "C", "D"]
    assert cache.size_bytes == 300
    cache.put(key("huge"), "H", 301)  # larger than the whole budget: not kept
    assert cache.get(key("huge")) is None
    assert len(cache) == 3


def test_a_newer_version_drops_the_older_entries_of_its_dataset_only() -> None:
    cache: ResultCache[str] = ResultCache(max_bytes=1000)
    cache.put(key("a", 1), "old", 10)
    cache.put(key("a", 1, dataset="other"), "other", 10)
    assert cache.get(key("a", 2)) is None
    assert cache.get(key("a", 1)) is None
    assert cache.get(key("a", 1, dataset="other")) == "other"
    assert cache.size_bytes == 10
    # A late answer computed on version 1 is not stored once version 2 was seen.
    cache.put(key("a", 1), "late", 10)
    assert cache.get(key("a", 1)) is None


def test_scope_is_part_of_the_key() -> None:
    cache: ResultCache[str] = ResultCache(max_bytes=1000)
    cache.put(key("a", scope=(("country", ("DE",)),)), "DE only", 10)
    assert cache.get(key("a")) is None
    assert cache.get(key("a", scope=(("country", ("DE",)),))) == "DE only"


def test_a_zero_budget_keeps_nothing() -> None:
    cache: ResultCache[str] = ResultCache(max_bytes=0)
    cache.put(key("a"), "A", 1)
    assert cache.get(key("a")) is None
