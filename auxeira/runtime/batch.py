"""A powertools batch processor that stages a batch: prepare every record, then apply once.

powertools' ``BatchProcessor`` calls a handler per record, which would cost one sink
round trip per record. This subclass keeps its partial-batch-response machinery
(``batchItemFailures``, all-failed -> ``BatchProcessingError``) but splits the work:

1. **prepare**: the record handler decodes, validates and projects each record into
   zero or more items (mutations, outgoing records). Preparing is pure, so *any*
   exception it raises is that record's own problem: the record is dead-lettered with
   the error's type and message and counts as done; its neighbours go on.
2. **apply**: one call hands every item of the batch to the sink, which returns one
   outcome per item (:mod:`auxeira.runtime.sinks`). A ``RetryableSinkError`` raised by
   the whole call (or any unexpected error: the sink is in an unknown state) fails
   every record; a ``PoisonRecordError`` outcome dead-letters its record.
3. **report**: a record succeeds when all its items did. After a failure on an
   ordering key, later records with that key are reported failed too, so the
   redelivery replays them in order (Lambda restarts a shard from the lowest failed
   sequence number; AWS Lambda guide, "Reporting batch item failures").
4. **give up by age**: a record that failed for a retryable reason and is older than
   ``give_up_after_seconds`` (just under the mapping's maximum record age) is
   dead-lettered with the failure as its cause instead of being reported: the mapping
   would soon discard it with no cause and, for the router, with its secrets.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from auxeira.runtime.dead_letters import DeadLetter, DeadLetterStore, record_position
from auxeira.runtime.sinks import APPLIED, STALE, BatchStats, Outcome
from schemas.errors import PoisonRecordError, RetryableSinkError

__all__ = ["RECORD_AGE_EXCEEDED", "Apply", "Prepare", "Staged", "StagedBatchProcessor", "record_time"]

T = TypeVar("T")

#: ``error_type`` of a record given up once older than the mapping's record age.
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


@dataclass(frozen=True, slots=True)
class Staged(Generic[T]):
    """One item a record prepared, with the key whose order it must keep."""

    item: T
    order_key: str
    #: the envelope's event id, when the record carried one: failed records are logged by it,
    #: so one event can be followed through every consumer's log and into the dead letters.
    event_id: str = ""


Apply = Callable[[Sequence[Any]], Sequence[Any]]
Prepare = Callable[[Any], Sequence[Staged]]


def record_time(raw: dict[str, Any]) -> float | None:
    """Epoch seconds a record reached its stream (Kinesis arrival, DynamoDB creation)."""
    value = (
        (raw.get("kinesis") or {}).get("approximateArrivalTimestamp")
        if "kinesis" in raw
        else (raw.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    )
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


class StagedBatchProcessor(BatchProcessor):
    """Partial-batch processor with a prepare phase per record and one apply per batch.

    Args:
        event_type: ``EventType.KinesisDataStreams`` or ``EventType.DynamoDBStreams``.
        apply: the sink's batch call, one outcome per item in order.
        dead_letters: where poison records go.
        consumer: name of this consumer (dead letters and metrics carry it).
        give_up_after_seconds: record age after which a retryable failure is
            dead-lettered instead of retried (None: never).
        clock: epoch seconds now (injected by tests).
    """

    def __init__(
        self,
        event_type: EventType,
        *,
        apply: Apply,
        dead_letters: DeadLetterStore,
        consumer: str,
        give_up_after_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(event_type, raise_on_entire_batch_failure=True)
        self._apply = apply
        self._dead_letters = dead_letters
        self.consumer = consumer
        self._give_up = give_up_after_seconds
        self._clock = clock
        self.stats = BatchStats()
        #: Event ids (or positions) of the records reported failed or dead-lettered, for the log.
        self.failures: list[dict[str, Any]] = []

    @property
    def dead_lettered(self) -> int:
        return self.stats.dead_lettered

    def process(self) -> list[tuple]:
        """Steps, in this order: 1. prepare all 2. dead-letter poison 3. apply once 4. report."""
        staged: list[tuple[Any, dict, list[Staged]]] = []
        results: list[tuple] = []
        self.stats = BatchStats(records=len(self.records))
        for raw in self.records:
            data = self._to_batch_type(record=raw, event_type=self.event_type)
            try:
                staged.append((data, raw, list(self.handler(record=data))))
            except Exception as exc:  # noqa: BLE001 - preparing is pure: any error is this record's
                results.append(self._dead_letter(data, raw, exc))
        items = [s for _, _, group in staged for s in group]
        outcomes = self._apply_all([s.item for s in items])
        return results + self._report(staged, iter(outcomes))

    def _apply_all(self, items: list[Any]) -> Sequence[Any]:
        if not items:
            return []
        try:
            outcomes = self._apply(items)
        except RetryableSinkError as exc:
            return [exc] * len(items)
        except Exception as exc:  # noqa: BLE001 - a sink in an unknown state: deliver again
            error = RetryableSinkError(f"{self.consumer} sink failed: {type(exc).__name__}: {exc}")
            return [error] * len(items)
        if len(outcomes) != len(items):
            raise RuntimeError(f"sink returned {len(outcomes)} outcomes for {len(items)} items")
        return outcomes

    def _report(self, staged: list[tuple[Any, dict, list[Staged]]], outcomes: Iterator[Any]) -> list[tuple]:
        results: list[tuple] = []
        blocked: dict[str, BaseException] = {}  # order key -> its first failure
        for data, raw, group in staged:
            error: BaseException | None = None
            poison: PoisonRecordError | None = None
            done: set[Outcome] = set()
            for s in group:
                outcome = next(outcomes)
                if s.order_key in blocked and not isinstance(outcome, PoisonRecordError):
                    outcome = blocked[s.order_key]
                if isinstance(outcome, PoisonRecordError):
                    # The sink found the item itself bad: dead-letter it, never block its key.
                    poison = poison or outcome
                elif isinstance(outcome, Outcome):
                    done.add(outcome)
                elif isinstance(outcome, BaseException):
                    blocked.setdefault(s.order_key, outcome)
                    error = error or outcome
                else:
                    raise TypeError(f"{self.consumer} sink returned {outcome!r}, not an outcome")
            ids = tuple(dict.fromkeys(s.event_id for s in group if s.event_id))
            if error is None and poison is not None:
                results.append(self._dead_letter(data, raw, poison, event_ids=ids))
            elif error is not None:
                results.append(self._failed(data, raw, error, ids))
            else:
                results.append(self._succeeded(raw, done))
        return results

    def _succeeded(self, raw: dict, done: set[Outcome]) -> tuple:
        if APPLIED in done:
            self.stats.applied += 1
            arrived = record_time(raw)
            if arrived is not None:
                age = max(0, int((self._clock() - arrived) * 1000))
                newest = self.stats.newest_applied_age_ms
                self.stats.newest_applied_age_ms = age if newest is None else min(newest, age)
        elif STALE in done:
            self.stats.stale += 1
        else:  # no item, or only SKIPPED
            self.stats.skipped += 1
        return self.success_handler(record=raw, result=None)

    def _failed(self, data: Any, raw: dict, error: BaseException, event_ids: tuple[str, ...] = ()) -> tuple:
        arrived = record_time(raw)
        if self._give_up is not None and arrived is not None and self._clock() - arrived >= self._give_up:
            age = self._clock() - arrived
            cause = PoisonRecordError(
                f"still failing after {age:.0f} s, past the mapping's record age: {type(error).__name__}: {error}"
            )
            return self._dead_letter(data, raw, cause, error_type=RECORD_AGE_EXCEEDED, event_ids=event_ids)
        self.stats.retried += 1
        self.failures.append(
            _failure("retried", record_position(raw)[2], type(error).__name__, event_ids),
        )
        try:
            raise error
        except BaseException:  # noqa: BLE001 - powertools wants sys.exc_info()
            return self.failure_handler(record=data, exception=sys.exc_info())

    def _dead_letter(
        self,
        data: Any,
        raw: dict,
        exc: BaseException,
        error_type: str | None = None,
        event_ids: tuple[str, ...] = (),
    ) -> tuple:
        source, shard, sequence = record_position(raw)
        letter = DeadLetter(
            consumer=self.consumer,
            shard_id=shard,
            sequence_number=sequence,
            source_arn=source,
            error_type=error_type or type(exc).__name__,
            message=str(exc) or type(exc).__name__,
            record=raw,
        )
        try:
            self._dead_letters.put(letter)
        except Exception:  # noqa: BLE001 - not stored means not done: redeliver it
            self.stats.retried += 1
            return self.failure_handler(record=data, exception=sys.exc_info())
        if error_type != RECORD_AGE_EXCEEDED:
            self.stats.poison += 1
        self.stats.dead_lettered += 1
        self.failures.append(_failure("dead-lettered", sequence, letter.error_type, event_ids))
        return self.success_handler(record=raw, result="dead-lettered")


def _failure(outcome: str, position: str, error: str, event_ids: tuple[str, ...]) -> dict[str, Any]:
    """One failed record in the batch's log line: where it is, why, and the events it carried."""
    entry: dict[str, Any] = {"outcome": outcome, "position": position, "error": error}
    if event_ids:
        entry["event_ids"] = list(event_ids)
    return entry
