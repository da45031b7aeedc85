"""What a lake job run did, the same shape from both engines (the CLI prints it as JSON)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Progress", "Publish", "RunResult", "quiet"]

#: ``progress(done, total, what)``: called as a job moves (the CLI draws a bar).
Progress = Callable[[int, int, str], None]
#: ``on_publish(table, snapshot folder)``: a current table was switched to a new snapshot.
Publish = Callable[[Any, str], None]


def quiet(done: int, total: int, what: str) -> None:
    """A progress callback that shows nothing."""


@dataclass
class RunResult:
    """Counts of one run.

    Attributes:
        objects: raw objects read (raw_to_curated) or files rewritten (compact).
        events: envelopes read.
        duplicates: events dropped because their ``event_id`` was seen in this run or is
            already in curated.
        unrouted: events of an entity this code has no table for (kept in raw; re-run
            the window once the model exists).
        rejected: lines that are not a valid envelope (the archiver validates, so 0).
        rows: rows written per table.
    """

    job: str
    engine: str
    objects: int = 0
    events: int = 0
    duplicates: int = 0
    unrouted: int = 0
    rejected: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())
