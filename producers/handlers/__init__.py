"""Lambda entry points of the producers; each builds its clients on first call."""

__all__ = ["router"]
