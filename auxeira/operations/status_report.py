"""What ``auxeira status`` reports, and the thresholds that turn figures into warnings.

Kept apart from the collectors (:mod:`auxeira.operations.status` for the checkpoint view,
:mod:`auxeira.operations.status_aws` for deployed mappings) so both fill one shape, and
the command line renders one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auxeira.operations.status_epochs import StoreStatus
from auxeira.operations.status_shards import ShardLag
from auxeira.runtime.objects import ObjectStore

__all__ = [
    "OBJECTS_CAP",
    "ConsumerStatus",
    "MappingStatus",
    "StatusReport",
    "Thresholds",
    "count_objects",
    "iso",
    "span",
]

#: Objects counted under one prefix before the count stops (a listing is a request per 1,000).
OBJECTS_CAP = 10_000


@dataclass(frozen=True)
class Thresholds:
    """When a figure becomes a warning.

    Attributes:
        lag_seconds: the oldest record still to be processed waited longer than this.
        retention_fraction, retention_floor_hours: warn when the oldest unprocessed record
            leaves the stream in less than this share of the retention, or less than these
            hours, whichever is more (24 h retention: 6 h; 7 days: 42 h): time to catch up
            or to plan a rebuild while the records are still there.
    """

    lag_seconds: float = 300.0
    retention_fraction: float = 0.25
    retention_floor_hours: float = 6.0

    def retention_warning_seconds(self, retention_hours: float) -> float:
        return max(retention_hours * self.retention_fraction, self.retention_floor_hours) * 3600


@dataclass
class ConsumerStatus:
    """One consumer's positions on one stream, from the checkpoint table (local runner, replays, backfills)."""

    consumer: str
    source: str  # "kinesis" (the events stream) or "dynamodb" (a table's stream)
    stream: str
    retention_hours: float
    shards: list[ShardLag] = field(default_factory=list)
    failure_records: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def records_behind(self) -> int:
        return sum(s.records_behind for s in self.shards)

    @property
    def capped(self) -> bool:
        return any(s.capped for s in self.shards)

    @property
    def newest_applied_at(self) -> float | None:
        return max((s.newest_applied_at for s in self.shards if s.newest_applied_at is not None), default=None)

    @property
    def oldest_unprocessed_at(self) -> float | None:
        return min((s.oldest_unprocessed_at for s in self.shards if s.oldest_unprocessed_at is not None), default=None)

    def retention_left_seconds(self, now: float) -> float | None:
        oldest = self.oldest_unprocessed_at
        return None if oldest is None else oldest + self.retention_hours * 3600 - now

    def as_dict(self, now: float) -> dict[str, Any]:
        left = self.retention_left_seconds(now)
        return {
            "consumer": self.consumer,
            "source": self.source,
            "stream": self.stream,
            "retention_hours": self.retention_hours,
            "records_behind": self.records_behind,
            "records_behind_capped": self.capped,
            "newest_applied_at": iso(self.newest_applied_at),
            "oldest_unprocessed_at": iso(self.oldest_unprocessed_at),
            "retention_left_seconds": None if left is None else round(left),
            "failure_records": self.failure_records,
            "shards": [{**s.as_dict(now), **_times(s)} for s in self.shards],
            "warnings": list(self.warnings),
        }


@dataclass
class MappingStatus:
    """One deployed event source mapping, as Lambda and CloudWatch tell it."""

    consumer: str
    function: str
    uuid: str
    source_arn: str
    state: str
    last_result: str
    state_reason: str = ""
    iterator_age_ms: float | None = None
    newest_applied_age_ms: float | None = None
    retention_hours: float = 24.0
    failure_records: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def retention_left_seconds(self) -> float | None:
        if self.iterator_age_ms is None:
            return None
        return self.retention_hours * 3600 - self.iterator_age_ms / 1000

    def as_dict(self) -> dict[str, Any]:
        left = self.retention_left_seconds
        return {
            "consumer": self.consumer,
            "function": self.function,
            "uuid": self.uuid,
            "source_arn": self.source_arn,
            "state": self.state,
            "last_processing_result": self.last_result,
            "state_reason": self.state_reason,
            "iterator_age_ms": self.iterator_age_ms,
            "newest_applied_age_ms": self.newest_applied_age_ms,
            "retention_hours": self.retention_hours,
            "retention_left_seconds": None if left is None else round(left),
            "failure_records": self.failure_records,
            "warnings": list(self.warnings),
        }


@dataclass
class StatusReport:
    """Everything ``auxeira status`` found; :attr:`problem` decides its exit code."""

    env: str
    view: str  # "local": checkpoints; "aws": Lambda's mappings
    at: float
    consumers: list[ConsumerStatus] = field(default_factory=list)
    #: Replays and backfills, from their checkpoint rows (their window or table, not a tip, is their end).
    operations: list[ConsumerStatus] = field(default_factory=list)
    mappings: list[MappingStatus] = field(default_factory=list)
    stores: list[StoreStatus] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def all_warnings(self) -> list[str]:
        found = [w for c in self.consumers for w in c.warnings] + [w for m in self.mappings for w in m.warnings]
        found += [s.check.message for s in self.stores if s.problem]
        return found + self.warnings

    @property
    def problem(self) -> bool:
        return bool(self.all_warnings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "problems" if self.problem else "ok",
            "env": self.env,
            "view": self.view,
            "at": iso(self.at),
            "consumers": [c.as_dict(self.at) for c in self.consumers],
            "operations": [r.as_dict(self.at) for r in self.operations],
            "mappings": [m.as_dict() for m in self.mappings],
            "stores": [s.as_dict() for s in self.stores],
            "dead_letters": dict(self.dead_letters),
            "warnings": self.all_warnings,
            "notes": list(self.notes),
        }


def count_objects(objects: ObjectStore, prefix: str, cap: int = OBJECTS_CAP) -> int:
    """Objects under a lake prefix, up to ``cap`` (dead letters, failure records)."""
    count = 0
    for _ in objects.list(prefix):
        count += 1
        if count >= cap:
            break
    return count


def iso(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="seconds")


def span(seconds: float | None) -> str:
    """``3d 4h``, ``5h 12m``, ``7m 3s``, ``12s``; ``-`` for None; negative spans read ``past``."""
    if seconds is None:
        return "-"
    if seconds < 0:
        return f"past by {span(-seconds)}"
    s = int(seconds)
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if s >= size:
            return f"{s // size}{unit} {(s % size) // subsize}{sub}"
    return f"{s}s"


def _times(shard: ShardLag) -> dict[str, Any]:
    return {
        "oldest_unprocessed_at": iso(shard.oldest_unprocessed_at),
        "newest_applied_at": iso(shard.newest_applied_at),
    }
