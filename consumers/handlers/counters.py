"""The counters consumer: Kinesis -> counters table, as a Lambda handler and a reusable factory.

Lambda entry point: ``consumers.handlers.counters.handler``. Its event source mapping
must have ``ParallelizationFactor: 1`` (the default) and
``FunctionResponseTypes: [ReportBatchItemFailures]``: the per-shard watermarks on the
counter items assume one shard's records are applied in order by one invocation at a
time (see :mod:`consumers.sinks.counters_dynamo`).

Steps per batch, in this order:

1. prepare each record: decode, validate and turn every envelope into a
   :class:`CounterEvent` at the record's shard and sequence number (from ``eventID``
   and ``kinesis.sequenceNumber``); poison goes to the dead-letter store;
2. coalesce the whole batch into one :class:`CounterUpdate` per counter item;
3. write them (one conditional UpdateItem each) and get one outcome per update;
4. a record fails when any update holding one of its parts failed; Lambda then
   redelivers from the lowest failed record, and the watermarks skip what was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import EventType

from auxeira.runtime.batch import Staged
from auxeira.runtime.bus import envelopes_of, kinesis_payload, order_key
from auxeira.runtime.dead_letters import DeadLetterStore, record_position
from auxeira.runtime.epochs import EpochGuard
from auxeira.runtime.handlers import Handler, lambda_entry, staged_handler
from auxeira.runtime.observability import BatchObserver
from auxeira.runtime.settings import CountersSettings
from auxeira.runtime.sinks import APPLIED, SKIPPED, STALE, ItemOutcome
from consumers.projections import counters
from consumers.projections.counter_rules import RULES, CounterRule
from consumers.projections.counters import CounterEvent, CounterUpdate, WriteOutcome

__all__ = ["CONSUMER", "CounterWriter", "apply_events", "build_handler", "handler"]

CONSUMER = "counters"


class CounterWriter(Protocol):
    """What this consumer needs from a counters sink."""

    def write(self, updates: Sequence[CounterUpdate]) -> list[WriteOutcome | BaseException]: ...


def apply_events(sink: CounterWriter, events: Sequence[CounterEvent]) -> list[ItemOutcome | BaseException]:
    """Coalesce a batch, write it, and return one outcome per event.

    An event fails when an update holding one of its parts failed; it is STALE when
    every update holding its parts had already been written (a replay), or when it was
    dropped as a duplicate of an event earlier in the batch; SKIPPED when it counts
    nothing; APPLIED otherwise.
    """
    updates = counters.coalesce(events)
    outcomes = sink.write(updates) if updates else []
    failed: dict[tuple[str, str], BaseException] = {}
    written: set[tuple[str, str]] = set()
    for update, outcome in zip(updates, outcomes, strict=True):
        for part in update.parts:
            slot = (update.shard, part.sequence)
            if isinstance(outcome, BaseException):
                failed.setdefault(slot, outcome)
            elif outcome is not WriteOutcome.REPLAYED:
                written.add(slot)
    # An event deduplicated by id has no part of its own: it succeeds, and if its twin
    # failed, redelivery starts at the twin (lower sequence) and covers it anyway.
    result: list[ItemOutcome | BaseException] = []
    for e in events:
        slot = (e.shard, e.sequence)
        if slot in failed:
            result.append(failed[slot])
        elif not e.deltas:
            result.append(SKIPPED)
        else:
            result.append(APPLIED if slot in written else STALE)
    return result


def build_handler(
    sink: CounterWriter,
    dead_letters: DeadLetterStore,
    consumer: str = CONSUMER,
    rules: tuple[CounterRule, ...] = RULES,
    observer: BatchObserver | None = None,
    epochs: EpochGuard | None = None,
    **options: Any,
) -> Handler:
    """A Lambda-shaped handler writing each batch's coalesced counter updates to ``sink``
    (``epochs``: the store's epoch check, run before a batch at most once a minute)."""

    def prepare(record: Any) -> list[Staged]:
        _, shard, sequence = record_position(record.raw_event)
        return [
            Staged(counters.to_event(shard, sequence, e, rules), order_key(e), e.event_id)
            for e in envelopes_of(kinesis_payload(record))
        ]

    def apply(events: Sequence[CounterEvent]) -> list[ItemOutcome | BaseException]:
        if epochs is not None:
            epochs.check()
        return apply_events(sink, events)

    return staged_handler(
        EventType.KinesisDataStreams,
        prepare=prepare,
        apply=apply,
        dead_letters=dead_letters,
        consumer=consumer,
        observer=observer,
        **options,
    )


def _from_settings(settings: CountersSettings) -> Handler:
    from auxeira.runtime.clients import CALLER_RETRIES, ClientFactory
    from auxeira.runtime.dead_letters import dead_letter_store
    from auxeira.runtime.epochs import EpochRecords
    from auxeira.runtime.observability import PowertoolsObserver
    from consumers.sinks.counters_dynamo import DynamoCounterSink

    clients = ClientFactory.from_settings(settings)
    # The sink retries each UpdateItem itself: botocore's own retries would multiply with it.
    sink = DynamoCounterSink(clients.client("dynamodb", config=CALLER_RETRIES), settings.counters_table)
    observer = PowertoolsObserver(CONSUMER, env=settings.env)
    records = EpochRecords(clients.client("dynamodb"), settings.checkpoint_table)
    return build_handler(
        sink,
        dead_letter_store(settings.lake, clients.client("s3")),
        observer=observer,
        epochs=EpochGuard(CONSUMER, sink, records, alarm=observer.store_reset),
    )


#: Lambda entry point.
handler = lambda_entry(CountersSettings, _from_settings)
