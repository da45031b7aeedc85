"""The archiver: Kinesis -> the lake's raw archive, as a Lambda handler and a reusable factory.

Lambda entry point: ``consumers.handlers.archiver.handler`` (its mapping:
``schemas.resources.mapping("archiver")``, which reads each shard in order, as the
archive's exactly-once rule requires; see :mod:`consumers.sinks.archive`).

Steps per batch, in this order:

1. prepare each record: check it carries valid envelopes (the one poison rule every
   consumer shares, :mod:`auxeira.runtime.bus`; poison goes to the dead-letter store,
   which keeps its payload), and turn it into a :class:`RawRecord` holding the
   envelope bytes exactly as they arrived, one line per envelope;
2. archive the whole batch: per shard and arrival hour, write the records no existing
   object covers (one object per run of neighbours), and report the covered ones stale;
3. a record fails only when its object could not be written; Lambda redelivers from
   the lowest failed record, and step 2 skips what was written before the failure.

The archive keeps table changes and published events alike, and fields the envelope
does not know: on-call engineers replay from it once Kinesis retention has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType

from auxeira.runtime.batch import Staged, record_time
from auxeira.runtime.bus import envelopes_of, kinesis_payload
from auxeira.runtime.dead_letters import DeadLetterStore, record_position
from auxeira.runtime.handlers import Handler, lambda_entry, staged_handler
from auxeira.runtime.observability import BatchObserver
from auxeira.runtime.settings import ArchiverSettings
from auxeira.runtime.sinks import ItemOutcome
from consumers.sinks.archive import ArchiveSink, RawRecord
from consumers.sinks.archive_layout import line
from schemas.errors import PoisonRecordError
from schemas.wire.kpl import deaggregate, is_aggregated

__all__ = ["CONSUMER", "build_handler", "handler", "to_raw_record"]

CONSUMER = "archiver"


def to_raw_record(raw: dict[str, Any], data: bytes) -> RawRecord:
    """The archive's view of one Lambda-shaped Kinesis record whose payload is ``data``.

    Raises:
        PoisonRecordError: the payload carries no valid envelope, or the record has no
            arrival time (Kinesis always sets one; without it the record has no folder).
    """
    envelopes_of(data)  # validates; poison is refused here as by every consumer
    arn, shard, sequence = record_position(raw)
    arrival = record_time(raw)
    if arrival is None or not sequence.isdigit():
        raise PoisonRecordError(f"kinesis record {shard}:{sequence} has no arrival time or no numeric sequence")
    payloads = deaggregate(data) if is_aggregated(data) else [data]
    stream = arn.rsplit("/", 1)[-1] or "unknown-stream"
    lines = tuple(line(arrival, sequence, sub, payload) for sub, payload in enumerate(payloads))
    return RawRecord(stream=stream, shard=shard, sequence=sequence, arrival=arrival, lines=lines)


def build_handler(
    sink: ArchiveSink,
    dead_letters: DeadLetterStore,
    consumer: str = CONSUMER,
    observer: BatchObserver | None = None,
    **options: Any,
) -> Handler:
    """A Lambda-shaped handler archiving each batch with one call to ``sink``."""

    def prepare(record: Any) -> list[Staged]:
        raw = record.raw_event
        archived = to_raw_record(raw, kinesis_payload(record))
        # One shard is one ordering key: after a failed put, the shard's later records
        # are reported failed too, so the redelivery is contiguous again.
        return [Staged(archived, f"{archived.stream}:{archived.shard}")]

    def apply(items: Sequence[RawRecord]) -> Sequence[ItemOutcome]:
        return sink.apply(items)

    return staged_handler(
        EventType.KinesisDataStreams,
        prepare=prepare,
        apply=apply,
        dead_letters=dead_letters,
        consumer=consumer,
        observer=observer,
        **options,
    )


def _from_settings(settings: ArchiverSettings) -> Handler:
    from auxeira.runtime.clients import ClientFactory
    from auxeira.runtime.dead_letters import dead_letter_store
    from auxeira.runtime.objects import object_store
    from auxeira.runtime.observability import PowertoolsObserver

    clients = ClientFactory.from_settings(settings)
    s3 = clients.client("s3")
    return build_handler(
        ArchiveSink(object_store(settings.lake, s3)),
        dead_letter_store(settings.lake, s3),
        observer=PowertoolsObserver(CONSUMER, env=settings.env),
    )


#: Lambda entry point.
handler = lambda_entry(ArchiverSettings, _from_settings)
