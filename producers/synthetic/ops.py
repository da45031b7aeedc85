"""The generator's output: writes to make, as data (frozen), so generation stays pure and
the workload decides how (repository or publisher), how fast and on how many threads.

A :class:`Unit` is a sequence of ops that must run in order (one startup: its profile
before its metrics, a participant's acceptance after its invitation); different units
are independent and may run concurrently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Create", "Op", "Publish", "Unit", "Update", "by_time"]


@dataclass(frozen=True)
class Create:
    """``Repository.create(entity, values, actor=actor)``; ``at`` orders it within its unit."""

    entity: str
    values: Mapping[str, Any]
    actor: str
    at: datetime | None = None


@dataclass(frozen=True)
class Update:
    """``Repository.update(entity, key, changes, actor=actor)``."""

    entity: str
    key: Mapping[str, Any]
    changes: Mapping[str, Any]
    actor: str
    at: datetime | None = None


@dataclass(frozen=True)
class Publish:
    """``Publisher.publish(event)``: a registered published-event model instance."""

    event: Any
    at: datetime | None = None

    @property
    def entity(self) -> str:
        return type(self.event).entity


Op = Create | Update | Publish


@dataclass(frozen=True)
class Unit:
    """Ops to run in order; ``build`` makes them when the unit runs (lazily, so a large
    workload never holds every item in memory at once)."""

    label: str
    build: Callable[[], Sequence[Op]]


def by_time(ops: Sequence[Op]) -> list[Op]:
    """Ops sorted by ``at`` (stable: ties keep their order; ops without a time go first)."""
    return sorted(ops, key=lambda op: (op.at is not None, op.at or datetime.min))
