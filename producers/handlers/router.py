"""The stream router: DynamoDB Streams -> envelopes -> Kinesis, as a Lambda handler.

Lambda entry point: ``producers.handlers.router.handler`` (one event source mapping per
table stream, ``schemas.resources.mapping("router")``). A change whose PutRecords entry
still fails after the writer's retries is reported as a batch item failure, so Lambda
delivers it again: a change is never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType

from auxeira.runtime.batch import Staged
from auxeira.runtime.dead_letters import DeadLetterStore
from auxeira.runtime.handlers import Handler, lambda_entry, staged_handler
from auxeira.runtime.observability import BatchObserver
from auxeira.runtime.settings import RouterSettings
from auxeira.runtime.sinks import APPLIED, ItemOutcome
from producers.kinesis_writer import MAX_RECORD_BYTES, KinesisWriter, OutgoingRecord, record_size
from producers.stream_router import partition_key, to_envelope
from schemas.envelope import encode
from schemas.errors import RecordTooLargeError, RetryableSinkError

__all__ = ["CONSUMER", "build_handler", "handler"]

CONSUMER = "router"


def build_handler(
    writer: KinesisWriter,
    dead_letters: DeadLetterStore,
    consumer: str = CONSUMER,
    observer: BatchObserver | None = None,
    **options: Any,
) -> Handler:
    """A Lambda-shaped handler that routes each batch with as few PutRecords as possible."""

    def prepare(record: Any) -> list[Staged]:
        envelope = to_envelope(record.raw_event)
        key = partition_key(envelope)
        outgoing = OutgoingRecord(encode(envelope), key)
        # Before + after images of a 400 KB item can pass Kinesis' 1 MiB: such a change
        # can never be sent, so it is poison (dead-lettered whole), not a retry.
        if record_size(outgoing) > MAX_RECORD_BYTES:
            raise RecordTooLargeError(
                f"event {envelope.event_id} ({envelope.event_type} {envelope.key})",
                record_size(outgoing),
                MAX_RECORD_BYTES,
            )
        return [Staged(outgoing, key, envelope.event_id)]

    def apply(records: Sequence[OutgoingRecord]) -> list[ItemOutcome]:
        result = writer.put(list(records))
        failed = {id(r): f"{code}: {message}" for r, code, message in result.failed}
        return [RetryableSinkError(failed[id(r)]) if id(r) in failed else APPLIED for r in records]

    return staged_handler(
        EventType.DynamoDBStreams,
        prepare=prepare,
        apply=apply,
        dead_letters=dead_letters,
        consumer=consumer,
        observer=observer,
        **options,
    )


def _from_settings(settings: RouterSettings) -> Handler:
    from auxeira.runtime.clients import CALLER_RETRIES, ClientFactory
    from auxeira.runtime.dead_letters import dead_letter_store
    from auxeira.runtime.observability import PowertoolsObserver

    clients = ClientFactory.from_settings(settings)
    # The writer retries each failed record itself: botocore's own retries would multiply with it.
    writer = KinesisWriter(clients.client("kinesis", config=CALLER_RETRIES), settings.stream_name)
    return build_handler(
        writer,
        dead_letter_store(settings.lake, clients.client("s3")),
        observer=PowertoolsObserver(CONSUMER, env=settings.env),
    )


#: Lambda entry point.
handler = lambda_entry(RouterSettings, _from_settings)
