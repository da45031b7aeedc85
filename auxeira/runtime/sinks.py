"""The one sink contract every projection store meets (cache, search, counters, archive).

A sink applies a batch of items and returns **one outcome per item**, in order:

* :data:`APPLIED`: the store changed;
* :data:`STALE`: nothing to do, the store already holds this or something newer (a
  duplicate, a late arrival, a replay): success, counted apart;
* :data:`SKIPPED`: the item asks for nothing of this store (success);
* a :class:`~schemas.errors.RetryableSinkError`: the store could not take it now;
  the record is delivered again (with backoff, until the mapping's record age);
* a :class:`~schemas.errors.PoisonRecordError`: the store refuses the item itself;
  the record is dead-lettered and the batch goes on.

A whole batch the store cannot take at all raises ``RetryableSinkError`` instead.
Optional capabilities, found by ``isinstance`` on the protocols: :class:`Readable`
(the drift checks compare a projection with the tables) and :class:`Erasable`
(erasure removes a subject's entries). The runtime counts the outcomes into
:class:`BatchStats`, which becomes the handler's log line and metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

from schemas.errors import PoisonRecordError, RetryableSinkError

__all__ = [
    "APPLIED",
    "SKIPPED",
    "STALE",
    "BatchStats",
    "Erasable",
    "ItemOutcome",
    "Outcome",
    "Readable",
    "Sink",
    "is_done",
]

M = TypeVar("M", contravariant=True)


class Outcome(StrEnum):
    """An item that needs nothing more."""

    APPLIED = "applied"
    STALE = "stale"
    SKIPPED = "skipped"


APPLIED, STALE, SKIPPED = Outcome.APPLIED, Outcome.STALE, Outcome.SKIPPED
ItemOutcome: TypeAlias = Outcome | RetryableSinkError | PoisonRecordError


def is_done(outcome: object) -> bool:
    return isinstance(outcome, Outcome)


class Sink(Protocol[M]):
    """Applies a batch of items; one outcome per item, in order."""

    def apply(self, items: Sequence[M]) -> Sequence[ItemOutcome]: ...


@runtime_checkable
class Readable(Protocol):
    """A sink whose entries can be read back by key, for the drift checks."""

    def get(self, *args: Any) -> Any: ...


@runtime_checkable
class Erasable(Protocol):
    """A sink that can forget an erased item's tombstone (the right to be forgotten).

    An erasure removes an item through the ordinary path: its delete reaches the sink like
    any other and leaves a tombstone, which names the item's key so that a late stale
    change cannot bring it back. Once that delete is applied nothing the live path delivers
    can need the tombstone (replays and redrives are kept out by the erasure ledger), and
    ``forget_tombstone`` removes it: the entry at ``address`` (the sink's own ``get``
    address), only if it is a tombstone, atomically, never a live entry. True if removed.
    """

    def forget_tombstone(self, *address: str) -> bool: ...


@dataclass
class BatchStats:
    """What one batch did, per record (what the handler logs and emits as metrics).

    Attributes:
        records: records delivered.
        applied: records at least one of whose items changed the store.
        stale: records whose items were all stale (duplicates, late arrivals, replays).
        skipped: records that asked nothing of this store (an entity it does not project).
        retried: records reported failed, to be delivered again.
        poison: records found bad (undecodable, invalid, refused by the store).
        dead_lettered: records written to the dead-letter store (poison, and records
            given up once older than the mapping's record age).
        newest_applied_age_ms: age of the newest record applied, None if none was.
    """

    records: int = 0
    applied: int = 0
    stale: int = 0
    skipped: int = 0
    retried: int = 0
    poison: int = 0
    dead_lettered: int = 0
    newest_applied_age_ms: int | None = None

    def add(self, other: BatchStats) -> None:
        for f in fields(self):
            if f.name == "newest_applied_age_ms":
                continue
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        if other.newest_applied_age_ms is not None:
            self.newest_applied_age_ms = other.newest_applied_age_ms

    def as_dict(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
