"""Error types shared by every ring of the pipeline.

One root, :class:`PipelineError`, so callers can catch the whole family. The split
that matters operationally is between :class:`PoisonRecordError` (the record itself
is bad: it goes to the dead-letter store and the batch moves on) and
:class:`RetryableSinkError` (the world is bad: the record is reported as a batch
item failure and delivered again).
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "EntityValidationError",
    "NotFoundError",
    "PipelineError",
    "PoisonRecordError",
    "RecordTooLargeError",
    "RetryableSinkError",
    "UnknownTableError",
]


class PipelineError(Exception):
    """Root of every error this project raises on purpose."""


class PoisonRecordError(PipelineError):
    """A record that can never be processed: undecodable, invalid, unknown type, oversized.

    Retrying it cannot help, so it is dead-lettered with its payload instead of
    blocking its shard.
    """


class RetryableSinkError(PipelineError):
    """A sink could not apply a change for a reason that may pass (down, throttled)."""


class EntityValidationError(PipelineError, ValueError):
    """A write or a change did not match its entity model.

    The message names the entity, the item key and every offending field.
    """

    def __init__(self, entity: str, key: str, errors: list[tuple[str, str]]):
        self.entity = entity
        self.key = key
        self.errors = errors
        detail = "; ".join(f"{field}: {msg}" for field, msg in errors)
        super().__init__(f"invalid {entity} {key!r}: {detail}")

    @property
    def fields(self) -> list[str]:
        """Names of the offending fields, in the order reported."""
        return [field for field, _ in self.errors]


class ConflictError(PipelineError):
    """An optimistic write lost a race: the stored version is not the expected one."""

    def __init__(self, entity: str, key: str, expected: int | None, actual: int | None):
        self.entity = entity
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(f"version conflict on {entity} {key!r}: expected version {expected}, found {actual}")


class NotFoundError(PipelineError, KeyError):
    """The item named by a key does not exist."""


class UnknownTableError(PoisonRecordError):
    """A stream record came from a table no spec describes."""


class RecordTooLargeError(PoisonRecordError):
    """An encoded event is over the Kinesis per-record limit (1 MiB)."""

    def __init__(self, what: str, size: int, limit: int):
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(f"{what} encodes to {size} bytes, over the {limit}-byte record limit")
