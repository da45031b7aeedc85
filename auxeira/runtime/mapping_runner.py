"""A local stand-in for a Lambda event source mapping on Kinesis or DynamoDB Streams.

It reproduces the behaviour the handlers rely on:

* every shard is polled; a child shard (after a reshard) starts only once its parents
  were read to their end, so per-key order survives resharding;
* the handler gets Lambda-shaped events and returns a partial batch response;
* the checkpoint advances only after a batch succeeded; on reported failures it
  advances to just before the lowest failed sequence number and delivery resumes
  there, as Lambda does with ``ReportBatchItemFailures``;
* a handler that raises has the whole batch redelivered;
* after ``max_attempts`` deliveries of the same failing record, that record is written
  to the dead-letter store (with its payload, unlike Lambda's on-failure destination)
  and the shard moves on, so nothing blocks a shard forever and nothing is lost.

A restarted mapping resumes from the stored checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.dead_letters import DeadLetter, DeadLetterStore
from auxeira.runtime.shard_sources import ShardSource

__all__ = ["LocalEventSourceMapping", "PollStats"]

Handler = Callable[[dict[str, Any], Any], dict[str, Any] | None]


@dataclass
class PollStats:
    """What one poll pass did."""

    records: int = 0
    failed_batches: int = 0
    dead_lettered: int = 0
    shards_finished: int = 0

    @property
    def idle(self) -> bool:
        return self.records == 0 and self.failed_batches == 0

    def add(self, other: "PollStats") -> None:
        self.records += other.records
        self.failed_batches += other.failed_batches
        self.dead_lettered += other.dead_lettered
        self.shards_finished += other.shards_finished


@dataclass
class _ShardState:
    iterator: str | None = None
    checkpoint: str | None = None
    finished: bool = False
    failing_sequence: str | None = None
    attempts: int = 0


@dataclass
class LocalEventSourceMapping:
    """Polls a source and feeds a handler, checkpointing per consumer and shard."""

    source: ShardSource
    handler: Handler
    checkpoints: Checkpoints
    consumer: str
    dead_letters: DeadLetterStore
    batch_size: int = 100
    max_attempts: int = 5
    _shards: dict[str, _ShardState] = field(default_factory=dict, init=False)
    _loaded: bool = field(default=False, init=False)

    def poll(self) -> PollStats:
        """One batch from every shard that may be read now."""
        stats = PollStats()
        shards = self.source.shards()
        self._load_checkpoints()
        known = {s.shard_id for s in shards}
        for shard in shards:
            state = self._shards.setdefault(shard.shard_id, _ShardState())
            if state.finished or not self._parents_done(shard.parent_ids, known):
                continue
            stats.add(self._poll_shard(shard.shard_id, state))
        return stats

    def _load_checkpoints(self) -> None:
        if self._loaded:
            return
        for shard_id, cp in self.checkpoints.all(self.consumer).items():
            self._shards[shard_id] = _ShardState(checkpoint=cp.sequence_number, finished=cp.finished)
        self._loaded = True

    def _parents_done(self, parents: tuple[str, ...], known: set[str]) -> bool:
        # A parent no longer listed has been trimmed away: nothing left to read in it.
        return all(p not in known or self._shards.get(p, _ShardState()).finished for p in parents)

    def _poll_shard(self, shard_id: str, state: _ShardState) -> PollStats:
        if state.iterator is None:
            state.iterator = self.source.iterator(shard_id, state.checkpoint)
        result = self.source.read(shard_id, state.iterator, self.batch_size)
        if not result.records:
            state.iterator = result.next_iterator
            if result.next_iterator is None:
                return self._finish(shard_id, state)
            return PollStats()
        stats = PollStats(records=len(result.records))
        failed = self._deliver(result.records)
        if failed is None:
            self._advance(shard_id, state, result.records[-1], result.next_iterator)
        else:
            stats.failed_batches = 1
            stats.dead_lettered = self._retry_from(shard_id, state, result.records, failed)
        return stats

    def _deliver(self, records: list[dict[str, Any]]) -> set[str] | None:
        """Sequence numbers that failed; None when the whole batch succeeded."""
        try:
            response = self.handler({"Records": records}, None) or {}
        except Exception:  # noqa: BLE001 - a raising handler fails the whole batch
            return {_sequence(records[0])}
        failures = response.get("batchItemFailures") or []
        return {str(f["itemIdentifier"]) for f in failures} or None

    def _advance(self, shard_id: str, state: _ShardState, last: dict, next_iterator: str | None) -> None:
        state.checkpoint = _sequence(last)
        self.checkpoints.save(self.consumer, shard_id, state.checkpoint)
        state.iterator = next_iterator
        state.failing_sequence, state.attempts = None, 0

    def _retry_from(self, shard_id: str, state: _ShardState, records: list[dict], failed: set[str]) -> int:
        """Checkpoint up to the lowest failure and re-read from there."""
        index = min(i for i, r in enumerate(records) if _sequence(r) in failed)
        lowest = records[index]
        if index > 0:
            state.checkpoint = _sequence(records[index - 1])
            self.checkpoints.save(self.consumer, shard_id, state.checkpoint)
        if state.failing_sequence == _sequence(lowest):
            state.attempts += 1
        else:
            state.failing_sequence, state.attempts = _sequence(lowest), 1
        dead = 0
        if state.attempts >= self.max_attempts:
            self._dead_letter(shard_id, lowest, state.attempts)
            state.checkpoint = _sequence(lowest)
            self.checkpoints.save(self.consumer, shard_id, state.checkpoint)
            state.failing_sequence, state.attempts, dead = None, 0, 1
        state.iterator = None  # re-read from the checkpoint on the next poll
        return dead

    def _dead_letter(self, shard_id: str, record: dict, attempts: int) -> None:
        self.dead_letters.put(DeadLetter(
            consumer=self.consumer, shard_id=shard_id, sequence_number=_sequence(record),
            error_type="RetriesExhausted",
            message=f"delivery failed {attempts} times; moved aside so the shard can go on",
            record=record, attempts=attempts,
        ))

    def _finish(self, shard_id: str, state: _ShardState) -> PollStats:
        state.finished = True
        self.checkpoints.save(self.consumer, shard_id, state.checkpoint, finished=True)
        return PollStats(shards_finished=1)


def _sequence(record: dict[str, Any]) -> str:
    if "kinesis" in record:
        return str(record["kinesis"]["sequenceNumber"])
    return str(record["dynamodb"]["SequenceNumber"])
