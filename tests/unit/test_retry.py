"""The one backoff policy: full jitter over an exponential, capped window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.retry import backoff_ceiling, full_jitter


def test_the_ceiling_doubles_per_attempt_until_the_cap() -> None:
    ceilings = [backoff_ceiling(attempt, 0.5, 10.0) for attempt in range(1, 8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_waits_spread_over_the_whole_window_not_its_top_half() -> None:
    # Full jitter: some waits fall in the lower half of the window. The old formula drew
    # from [ceiling/2, ceiling] and never did; 400 draws all above half has odds 2^-400.
    waits = [full_jitter(4, 1.0, 60.0) for _ in range(400)]
    assert all(0.0 <= wait <= 8.0 for wait in waits)
    assert any(wait < 4.0 for wait in waits)


@given(st.integers(min_value=1, max_value=10_000), st.floats(0.0, 100.0), st.floats(0.0, 3600.0))
def test_a_wait_never_exceeds_the_cap_even_at_huge_attempts(
    attempt: int, base: float, cap: float
) -> None:
    assert 0.0 <= full_jitter(attempt, base, cap) <= cap


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_ceiling(0, 1.0, 10.0)
