"""Lambda entry points of the consumers; each builds its clients on first call."""

__all__ = ["cache", "counters", "search"]
