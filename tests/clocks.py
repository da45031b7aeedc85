"""A deterministic clock for the write-path tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.wire.dynamodb import format_timestamp

__all__ = ["T0", "TickingClock"]

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class TickingClock:
    """Each call is one second after the previous one, starting at T0."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return T0 + timedelta(seconds=self.calls - 1)

    def at(self, call: int) -> str:
        """The stored timestamp of the ``call``-th reading."""
        return format_timestamp(T0 + timedelta(seconds=call - 1))
