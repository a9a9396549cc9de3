"""The one backoff policy: exponential with full jitter, capped.

Full jitter ("Exponential Backoff And Jitter", AWS Architecture Blog) draws the wait
uniformly from [0, min(cap, base * 2^(attempt-1))]: retrying clients spread over the
whole window instead of bunching at its top, which is what makes a thundering herd of
retries thin out. Every retry in DataFlow (a run's next attempt, an HTTP source's request)
waits through this function, so there is one formula to reason about and to test.
"""

from __future__ import annotations

import random

_JITTER = random.SystemRandom()


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """The longest wait before retry number `attempt` (1-based): base * 2^(attempt-1), capped."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    # min() before the power would overflow: 2**1100 as a float is an OverflowError.
    exponent = min(attempt - 1, 64)
    return float(min(cap, base * 2**exponent))


def full_jitter(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt`: uniform in [0, backoff_ceiling]."""
    return _JITTER.uniform(0, backoff_ceiling(attempt, base, cap))
