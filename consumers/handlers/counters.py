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

from typing import Any, Protocol, Sequence

from aws_lambda_powertools.utilities.batch import EventType

from auxeira.runtime.batch import Handler, Staged, lazy_handler, record_position, staged_handler
from auxeira.runtime.dead_letters import DeadLetterStore, dead_letter_store
from auxeira.runtime.bus import envelopes_of, kinesis_payload, order_key
from consumers.projections import counters
from consumers.projections.counter_rules import RULES, CounterRule
from consumers.projections.counters import CounterEvent, CounterUpdate, WriteOutcome
from auxeira.runtime.settings import PipelineSettings

__all__ = ["CONSUMER", "CounterWriter", "apply_events", "build_handler", "handler"]

CONSUMER = "counters"


class CounterWriter(Protocol):
    """What this consumer needs from a counters sink."""

    def write(self, updates: Sequence[CounterUpdate]) -> list[WriteOutcome | BaseException]: ...


def apply_events(sink: CounterWriter, events: Sequence[CounterEvent]) -> list[BaseException | None]:
    """Coalesce a batch, write it, and return one outcome per event (None = written or no-op)."""
    updates = counters.coalesce(events)
    outcomes = sink.write(updates) if updates else []
    failed: dict[tuple[str, str], BaseException] = {}
    for update, outcome in zip(updates, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            for part in update.parts:
                failed.setdefault((update.shard, part.sequence), outcome)
    # An event deduplicated by id has no part of its own: it succeeds, and if its twin
    # failed, redelivery starts at the twin (lower sequence) and covers it anyway.
    return [failed.get((e.shard, e.sequence)) for e in events]


def build_handler(sink: CounterWriter, dead_letters: DeadLetterStore, consumer: str = CONSUMER,
                  rules: tuple[CounterRule, ...] = RULES) -> Handler:
    """A Lambda-shaped handler writing each batch's coalesced counter updates to ``sink``."""

    def prepare(record: Any) -> list[Staged]:
        shard, sequence = record_position(record.raw_event)
        return [
            Staged(counters.to_event(shard, sequence, e, rules), order_key(e))
            for e in envelopes_of(kinesis_payload(record))
        ]

    def apply(events: Sequence[CounterEvent]) -> list[BaseException | None]:
        return apply_events(sink, events)

    return staged_handler(EventType.KinesisDataStreams, prepare=prepare, apply=apply,
                          dead_letters=dead_letters, consumer=consumer)


def _from_settings() -> Handler:
    import boto3

    from consumers.sinks.counters_dynamo import DynamoCounterSink
    from schemas.resources import COUNTERS_TABLE

    settings = PipelineSettings()
    client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint)
    return build_handler(DynamoCounterSink(client, COUNTERS_TABLE.physical_name(settings.env)),
                         dead_letter_store(settings.lake_root))


#: Lambda entry point.
handler = lazy_handler(_from_settings)
