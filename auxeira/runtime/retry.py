"""Exponential backoff with full jitter: the one retry policy of every loop that retries I/O.

Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015): the n-th
retry waits a uniform random time in ``[0, min(cap, base * 2**n))``. Compared with a
fixed exponential delay it spreads the retries of many concurrent writers (e.g. every
Lambda invocation of the router hitting the same throttled shard) instead of having
them retry in lock-step, which is what keeps a throttled stream throttled.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy", "full_jitter"]

# 2**62 * any sane base is far above any cap; bounding the exponent avoids an
# OverflowError on absurd attempt numbers without changing any real delay.
_MAX_EXPONENT = 62


def full_jitter(
    retry: int,
    *,
    base: float,
    cap: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Return the delay in seconds before retry number ``retry`` (0 for the first retry).

    Args:
        retry: How many retries came before this one (0, 1, 2, ...).
        base: Upper bound of the first delay, in seconds.
        cap: Upper bound of every delay, in seconds.
        rng: Returns a float in ``[0, 1)``; injected so tests can pin the jitter.

    Returns:
        ``rng() * min(cap, base * 2**retry)``.
    """
    if retry < 0:
        raise ValueError(f"retry must be >= 0, got {retry}")
    return rng() * min(cap, base * 2 ** min(retry, _MAX_EXPONENT))


@dataclass(frozen=True)
class RetryPolicy:
    """How one retry loop waits: full jitter between ``base`` and ``cap``, ``max_attempts`` tries.

    Every loop that retries an I/O call in this project (the Kinesis writer, the
    counters sink, the OpenSearch sink, the local mapping runner's redelivery) waits
    through one of these, so none retries in lock-step with its neighbours.
    """

    base: float = 0.05
    cap: float = 2.0
    max_attempts: int = 5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base < 0 or self.cap < self.base:
            raise ValueError("need 0 <= base <= cap")

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        return full_jitter(retry, base=self.base, cap=self.cap, rng=rng)
