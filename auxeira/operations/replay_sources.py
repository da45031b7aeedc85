"""What a replay reads from: the windowed Kinesis stream or the lake, and how far it got.

Both sources give the mapping runner Lambda-shaped records of the original shards and
sequence numbers, so one runner, one checkpoint layout and one handler serve both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auxeira.operations.environment import Environment
from auxeira.operations.replay_lake import LakeSource
from auxeira.operations.replay_window import StreamRetention
from auxeira.runtime.batch import record_time
from auxeira.runtime.shard_sources import KinesisSource, ReadResult, Shard, ShardSource

__all__ = ["TrackedSource", "object_keys", "open_source"]


def open_source(
    env: Environment, source: str, start: datetime, end: datetime, retention: StreamRetention | None
) -> KinesisSource | LakeSource:
    """The shard source of a window: Kinesis from ``AT_TIMESTAMP start`` to ``end``, or the archive."""
    region = env.clients.region
    if source == "kinesis":
        return KinesisSource(env.kinesis, env.stream_name, region, start_at=start, end_at=end)
    arn = retention.arn if retention else f"arn:aws:kinesis:{region}:000000000000:stream/{env.stream_name}"
    return LakeSource(env.objects, env.stream_name, arn, start, end, region)


@dataclass
class TrackedSource:
    """A shard source that remembers how far into the window each shard was read (the progress bar)."""

    inner: ShardSource
    start: float
    end: float
    finished: set[str] = field(default_factory=set)
    reached: dict[str, float] = field(default_factory=dict)
    known: list[str] = field(default_factory=list)
    event_source: str = "aws:kinesis"

    @property
    def arn(self) -> str:
        return self.inner.arn

    def shards(self) -> list[Shard]:
        shards = self.inner.shards()
        self.known = [s.shard_id for s in shards]
        return shards

    def iterator(self, shard_id: str, after: str | None) -> str:
        return self.inner.iterator(shard_id, after)

    def read(self, shard_id: str, iterator: str, limit: int) -> ReadResult:
        result = self.inner.read(shard_id, iterator, limit)
        arrived = record_time(result.records[-1]) if result.records else None
        if arrived is not None:
            self.reached[shard_id] = arrived
        if result.next_iterator is None and not result.records:
            self.finished.add(shard_id)
        return result

    def fraction(self) -> float:
        """Share of the window read, averaged over the shards (a finished shard counts whole)."""
        if not self.known:
            return 0.0
        span = max(self.end - self.start, 1e-9)
        parts = [
            1.0 if s in self.finished else min(1.0, max(0.0, (self.reached.get(s, self.start) - self.start) / span))
            for s in self.known
        ]
        return sum(parts) / len(parts)


def object_keys(source: Any) -> list[str]:
    """The archive objects a lake source reads (none for Kinesis)."""
    return list(source.keys) if isinstance(source, LakeSource) else []
