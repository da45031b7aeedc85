"""A powertools batch processor that stages a batch: prepare every record, then apply once.

powertools' ``BatchProcessor`` calls a handler per record, which would cost one sink
round trip per record. This subclass keeps its partial-batch-response machinery
(``batchItemFailures``, all-failed -> ``BatchProcessingError``) but splits the work:

1. **prepare**: the record handler decodes, validates and projects each record into
   zero or more items (mutations, outgoing records). A ``PoisonRecordError`` sends the
   raw record to the dead-letter store and the record counts as done, so one bad
   record never blocks its shard.
2. **apply**: one call hands every item of the batch to the sink, which returns an
   outcome per item (``None`` = applied, or the exception). A
   ``RetryableSinkError`` raised by the whole call fails every record; a
   ``PoisonRecordError`` outcome (the sink found the item bad) dead-letters its record.
3. **report**: a record succeeds when all its items did. After a failure on an
   ordering key, later records with that key are reported failed too, so the
   redelivery replays them in order (Lambda restarts a shard from the lowest failed
   sequence number; see the AWS Lambda guide, "Reporting batch item failures").
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Generic, Sequence, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from auxeira.runtime.dead_letters import DeadLetter, DeadLetterStore
from schemas.errors import PoisonRecordError, RetryableSinkError

__all__ = ["Handler", "Staged", "StagedBatchProcessor", "lazy_handler", "record_position", "staged_handler"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Staged(Generic[T]):
    """One item a record prepared, with the key whose order it must keep."""

    item: T
    order_key: str


Apply = Callable[[Sequence[Any]], Sequence[BaseException | None]]
Prepare = Callable[[Any], Sequence[Staged]]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class StagedBatchProcessor(BatchProcessor):
    """Partial-batch processor with a prepare phase per record and one apply per batch.

    Args:
        event_type: ``EventType.KinesisDataStreams`` or ``EventType.DynamoDBStreams``.
        apply: the sink's batch call, one outcome per item in order.
        dead_letters: where poison records go.
        consumer: name of this consumer (dead letters and metrics carry it).
    """

    def __init__(self, event_type: EventType, *, apply: Apply, dead_letters: DeadLetterStore,
                 consumer: str):
        super().__init__(event_type, raise_on_entire_batch_failure=True)
        self._apply = apply
        self._dead_letters = dead_letters
        self.consumer = consumer
        self.dead_lettered = 0

    def process(self) -> list[tuple]:
        """Steps, in this order: 1. prepare all 2. dead-letter poison 3. apply once 4. report."""
        staged: list[tuple[Any, dict, list[Staged]]] = []
        results: list[tuple] = []
        for raw in self.records:
            data = self._to_batch_type(record=raw, event_type=self.event_type)
            try:
                staged.append((data, raw, list(self.handler(record=data))))
            except PoisonRecordError as exc:
                results.append(self._dead_letter(data, raw, exc))
        items = [s for _, _, group in staged for s in group]
        outcomes = self._apply_all([s.item for s in items])
        return results + self._report(staged, iter(outcomes))

    def _apply_all(self, items: list[Any]) -> Sequence[BaseException | None]:
        if not items:
            return []
        try:
            outcomes = self._apply(items)
        except RetryableSinkError as exc:
            return [exc] * len(items)
        if len(outcomes) != len(items):
            raise RuntimeError(f"sink returned {len(outcomes)} outcomes for {len(items)} items")
        return outcomes

    def _report(self, staged, outcomes) -> list[tuple]:
        results: list[tuple] = []
        blocked: dict[str, BaseException] = {}  # order key -> its first failure
        for data, raw, group in staged:
            error = poison = None
            for s in group:
                outcome = next(outcomes) or blocked.get(s.order_key)
                if isinstance(outcome, PoisonRecordError):
                    # The sink found the item itself bad: dead-letter it, never block its key.
                    poison = poison or outcome
                elif outcome is not None:
                    blocked.setdefault(s.order_key, outcome)
                    error = error or outcome
            if error is None and poison is not None:
                results.append(self._dead_letter(data, raw, poison))
            else:
                results.append(self._outcome(data, raw, error))
        return results

    def _outcome(self, data: Any, raw: dict, error: BaseException | None) -> tuple:
        if error is None:
            return self.success_handler(record=raw, result=None)
        try:
            raise error
        except BaseException:  # noqa: BLE001 - powertools wants sys.exc_info()
            return self.failure_handler(record=data, exception=sys.exc_info())

    def _dead_letter(self, data: Any, raw: dict, exc: PoisonRecordError) -> tuple:
        shard, sequence = record_position(raw)
        letter = DeadLetter(
            consumer=self.consumer, shard_id=shard, sequence_number=sequence,
            error_type=type(exc).__name__, message=str(exc), record=raw,
        )
        try:
            self._dead_letters.put(letter)
        except Exception:  # noqa: BLE001 - not stored means not done: redeliver it
            return self.failure_handler(record=data, exception=sys.exc_info())
        self.dead_lettered += 1
        return self.success_handler(record=raw, result="dead-lettered")


def staged_handler(event_type: EventType, *, prepare: Prepare, apply: Apply, dead_letters: DeadLetterStore,
                   consumer: str) -> Handler:
    """A Lambda-shaped handler: each invocation is one staged batch with a partial batch response."""

    def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        processor = StagedBatchProcessor(event_type, apply=apply, dead_letters=dead_letters, consumer=consumer)
        return process_partial_response(event=event, record_handler=prepare, processor=processor,
                                        context=context)

    return handle


def lazy_handler(build: Callable[[], Handler]) -> Handler:
    """A Lambda entry point that builds its handler (and clients) on the first invocation.

    Building at import would open connections during Lambda's init phase and in every
    test that merely imports the module.
    """
    built: list[Handler] = []

    def entry(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not built:
            built.append(build())
        return built[0](event, context)

    return entry


def record_position(raw: dict) -> tuple[str, str]:
    """(shard id, sequence number) of a Lambda-shaped Kinesis or DynamoDB stream record."""
    if "kinesis" in raw:
        shard = str(raw.get("eventID", "")).partition(":")[0] or "unknown"
        return shard, str(raw["kinesis"].get("sequenceNumber", ""))
    ddb = raw.get("dynamodb") or {}
    arn = str(raw.get("eventSourceARN", ""))
    return arn.rsplit("/", 1)[-1] or "unknown", str(ddb.get("SequenceNumber", ""))
