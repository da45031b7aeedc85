"""The ``auxeira`` command line: local stack, demo, and the on-call tools."""

__all__ = ["main"]
