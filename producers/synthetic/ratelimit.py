"""A token bucket shared by threads: ``acquire()`` blocks until the next write may go.

Reservation style: each caller takes a token under the lock, letting the balance go
negative, and sleeps *outside* the lock until its token has been refilled. Callers are
served in arrival order, no thread spins, and the long-run rate is exactly ``rate``
whatever the number of threads. Clock and sleep are injected so tests can run it on a
fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket", "parse_rate"]


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, and ``burst`` at once.

    Args:
        rate: tokens per second (> 0).
        burst: bucket size; the first ``burst`` acquisitions do not wait.
        clock: monotonic seconds.
        sleep: blocks for some seconds.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate}, burst={burst}")
        self.rate, self.burst = float(rate), float(burst)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last: float | None = None

    def acquire(self) -> float:
        """Take one token, sleeping until it is there; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            if self._last is not None:
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


def parse_rate(text: str) -> float:
    """``"200/s"``, ``"200"`` or ``"12000/min"`` -> writes per second.

    Raises:
        ValueError: not a positive number with an optional ``/s`` or ``/min``.
    """
    number, _, unit = text.strip().partition("/")
    per = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0}.get(unit.strip().lower())
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if per is None or not value > 0 or value == float("inf"):
        raise ValueError(f"rate must look like 200/s or 12000/min, got {text!r}")
    return value / per
