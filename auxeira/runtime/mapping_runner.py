"""A local stand-in for a Lambda event source mapping on Kinesis or DynamoDB Streams.

It obeys the same :class:`~schemas.resources.MappingSpec` as the deployed
``AWS::Lambda::EventSourceMapping`` and reproduces the behaviour the handlers rely on:

* every shard is polled; a child shard (after a reshard) starts only once its parents
  were read to their end, so per-key order survives resharding;
* the handler gets Lambda-shaped events and returns a partial batch response;
* the checkpoint advances only after a batch succeeded; on reported failures it
  advances to just before the lowest failed sequence number and delivery resumes
  there, as Lambda does with ``ReportBatchItemFailures``; a handler that raises has
  the whole batch redelivered;
* a failing shard is retried with backoff (the one :class:`RetryPolicy`), not in a
  tight loop, while the other shards go on;
* a record is given up as Lambda gives it up: once it failed
  ``maximum_retry_attempts`` times (``RetryAttemptsExhausted``) or is older than
  ``maximum_record_age_seconds`` (``RecordAgeExceeded``, also before it is ever
  delivered). It is then written to the on-failure destination in the shape Lambda
  writes to S3 (:mod:`auxeira.runtime.failure_records`), and the shard moves on;
* each shard is read under a lease in the checkpoint table, so two runners (a second
  ``auxeira run``, a replay) never read one shard at once; a runner that dies leaves a
  lease that expires, and the next runner resumes at the checkpoint.

Locally the handler runs with no Lambda context, so it never pauses itself between
attempts; this runner's backoff stands in for that pause.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auxeira.runtime import failure_records
from auxeira.runtime.batch import record_time
from auxeira.runtime.checkpoints import Checkpoints, LeaseLost
from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.retry import RetryPolicy
from auxeira.runtime.shard_sources import ShardSource
from schemas.resources import MappingSpec

__all__ = ["REDELIVERY", "LocalEventSourceMapping", "PollStats"]

Handler = Callable[[dict[str, Any], Any], dict[str, Any] | None]

#: Backoff between deliveries of a failing batch: 0.1 s at first, doubling to 30 s.
REDELIVERY = RetryPolicy(base=0.1, cap=30.0, max_attempts=10_000)


@dataclass
class PollStats:
    """What one poll pass did."""

    records: int = 0
    failed_batches: int = 0
    discarded: int = 0
    shards_finished: int = 0

    @property
    def idle(self) -> bool:
        return self.records == 0 and self.failed_batches == 0

    @property
    def dead_lettered(self) -> int:  # the name the command line reports
        return self.discarded

    def add(self, other: PollStats) -> None:
        self.records += other.records
        self.failed_batches += other.failed_batches
        self.discarded += other.discarded
        self.shards_finished += other.shards_finished


@dataclass
class _ShardState:
    iterator: str | None = None
    checkpoint: str | None = None
    finished: bool = False
    failing_sequence: str | None = None
    attempts: int = 0
    not_before: float = 0.0
    millis_behind: int | None = None


@dataclass
class LocalEventSourceMapping:
    """Polls a source and feeds a handler, checkpointing per consumer and shard.

    Args:
        spec: the mapping's settings (batch size, retries, record age), as deployed.
        failures: where discarded records go (the lake's ``failures/``).
        owner: this runner's lease name (unique per process by default).
        clock: epoch seconds (record ages, backoff); injected by tests.
    """

    source: ShardSource
    handler: Handler
    checkpoints: Checkpoints
    consumer: str
    spec: MappingSpec
    failures: FailureRecords
    batch_size: int | None = None
    redelivery: RetryPolicy = REDELIVERY
    owner: str = field(default_factory=lambda: runner_name())
    lease_seconds: float = 30.0
    clock: Callable[[], float] = time.time
    _shards: dict[str, _ShardState] = field(default_factory=dict, init=False)
    _loaded: bool = field(default=False, init=False)

    def poll(self) -> PollStats:
        """One batch from every shard that may be read now (leased, parents done, not backing off)."""
        stats = PollStats()
        shards = self.source.shards()
        self._load_checkpoints()
        known = {s.shard_id for s in shards}
        for shard in shards:
            state = self._shards.setdefault(shard.shard_id, _ShardState())
            if state.finished or not self._parents_done(shard.parent_ids, known):
                continue
            if state.not_before > self.clock():
                continue
            if not self._lease(shard.shard_id):
                state.iterator = None  # someone else reads it; re-read our checkpoint if we get it back
                self._loaded = False
                continue
            try:
                stats.add(self._poll_shard(shard.shard_id, state))
            except LeaseLost:
                state.iterator, self._loaded = None, False
        return stats

    def _lease(self, shard_id: str) -> bool:
        """Take or renew the shard's lease; take over the lease of a dead runner of this machine."""
        if self.checkpoints.acquire(self.consumer, shard_id, self.owner, self.lease_seconds):
            return True
        held = self.checkpoints.get(self.consumer, shard_id)
        if held is None or held.owner is None or not runner_is_dead(held.owner):
            return False
        return self.checkpoints.take_over(self.consumer, shard_id, self.owner, held.owner, self.lease_seconds)

    def release(self) -> None:
        """Give every lease up (a clean stop)."""
        for shard_id in self._shards:
            self.checkpoints.release(self.consumer, shard_id, self.owner)

    def shard_lag(self) -> dict[str, int | None]:
        """Milliseconds behind the tip per shard, as the last read reported it."""
        return {shard: state.millis_behind for shard, state in self._shards.items()}

    def _load_checkpoints(self) -> None:
        if self._loaded:
            return
        for shard_id, cp in self.checkpoints.all(self.consumer).items():
            state = self._shards.setdefault(shard_id, _ShardState())
            state.checkpoint, state.finished, state.iterator = cp.sequence_number, cp.finished, None
        self._loaded = True

    def _parents_done(self, parents: tuple[str, ...], known: set[str]) -> bool:
        # A parent no longer listed has been trimmed away: nothing left to read in it.
        return all(p not in known or self._shards.get(p, _ShardState()).finished for p in parents)

    def _poll_shard(self, shard_id: str, state: _ShardState) -> PollStats:
        if state.iterator is None:
            state.iterator = self.source.iterator(shard_id, state.checkpoint)
        result = self.source.read(shard_id, state.iterator, self.batch_size or self.spec.batch_size)
        state.millis_behind = result.millis_behind
        if not result.records:
            state.iterator = result.next_iterator
            if result.next_iterator is None:
                return self._finish(shard_id, state)
            return PollStats()
        stats = PollStats(records=len(result.records))
        records, expired = self._split_expired(result.records)
        if expired:
            # Lambda never delivers a record past the maximum age: it goes to the destination.
            self._discard(shard_id, expired, "RecordAgeExceeded", 0, None)
            stats.discarded += len(expired)
            if not records:
                self._advance(shard_id, state, expired[-1], result.next_iterator)
                return stats
        failed = self._deliver(records)
        if failed is None:
            self._advance(shard_id, state, records[-1], result.next_iterator)
        else:
            stats.failed_batches = 1
            stats.discarded += self._retry_from(shard_id, state, records, failed)
        return stats

    def _split_expired(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(records to deliver, leading records already past the maximum record age)."""
        now, limit = self.clock(), self.spec.maximum_record_age_seconds
        cut = 0
        while cut < len(records):
            arrived = record_time(records[cut])
            if arrived is None or now - arrived <= limit:
                break
            cut += 1
        return records[cut:], records[:cut]

    def _deliver(self, records: list[dict[str, Any]]) -> tuple[set[str], str | None] | None:
        """(sequence numbers that failed, the function error if it raised); None when all succeeded."""
        try:
            response = self.handler({"Records": records}, None) or {}
        except Exception:  # noqa: BLE001 - a raising handler fails the whole batch
            return {_sequence(records[0])}, "Unhandled"
        failures = response.get("batchItemFailures") or []
        failed = {str(f["itemIdentifier"]) for f in failures}
        return (failed, None) if failed else None

    def _advance(self, shard_id: str, state: _ShardState, last: dict, next_iterator: str | None) -> None:
        state.checkpoint = _sequence(last)
        self.checkpoints.save(self.consumer, shard_id, state.checkpoint, owner=self.owner)
        state.iterator = next_iterator
        state.failing_sequence, state.attempts, state.not_before = None, 0, 0.0

    def _retry_from(
        self, shard_id: str, state: _ShardState, records: list[dict], failed: tuple[set[str], str | None]
    ) -> int:
        """Checkpoint up to the lowest failure and re-read from there after a backoff.

        Returns how many records were discarded (0 or 1).
        """
        sequences, function_error = failed
        index = min((i for i, r in enumerate(records) if _sequence(r) in sequences), default=0)
        lowest = records[index]
        if index > 0:
            state.checkpoint = _sequence(records[index - 1])
            self.checkpoints.save(self.consumer, shard_id, state.checkpoint, owner=self.owner)
        if state.failing_sequence == _sequence(lowest):
            state.attempts += 1
        else:
            state.failing_sequence, state.attempts = _sequence(lowest), 1
        state.iterator = None  # re-read from the checkpoint on the next poll
        arrived = record_time(lowest)
        too_old = arrived is not None and self.clock() - arrived > self.spec.maximum_record_age_seconds
        # maximum_retry_attempts counts retries after the first delivery, as Lambda's does.
        if state.attempts > self.spec.maximum_retry_attempts or too_old:
            # As Lambda does once bisection has narrowed the failure down to this record.
            condition = "RecordAgeExceeded" if too_old else "RetryAttemptsExhausted"
            self._discard(shard_id, [lowest], condition, state.attempts, function_error)
            state.checkpoint = _sequence(lowest)
            self.checkpoints.save(self.consumer, shard_id, state.checkpoint, owner=self.owner)
            state.failing_sequence, state.attempts, state.not_before = None, 0, 0.0
            return 1
        state.not_before = self.clock() + self.redelivery.delay(state.attempts - 1)
        return 0

    def _discard(
        self, shard_id: str, records: list[dict], condition: str, attempts: int, function_error: str | None
    ) -> None:
        document = failure_records.build(
            records,
            consumer=self.consumer,
            condition=condition,
            invoke_count=attempts,
            function_error=function_error,
            at=datetime.fromtimestamp(self.clock(), UTC),
            shard_id=shard_id,
        )
        self.failures.put(document, consumer=self.consumer)

    def _finish(self, shard_id: str, state: _ShardState) -> PollStats:
        state.finished = True
        self.checkpoints.save(self.consumer, shard_id, state.checkpoint, finished=True, owner=self.owner)
        return PollStats(shards_finished=1)


def runner_name() -> str:
    """``host:pid:nonce``: unique per runner, and tells whether its process is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def runner_is_dead(owner: str) -> bool:
    """True when ``owner`` names a runner of this machine whose process is gone (kill -9).

    A runner of another machine is never judged dead here: its lease expires instead.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _sequence(record: dict[str, Any]) -> str:
    if "kinesis" in record:
        return str(record["kinesis"]["sequenceNumber"])
    return str(record["dynamodb"]["SequenceNumber"])
