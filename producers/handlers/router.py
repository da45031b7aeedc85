"""The stream router: DynamoDB Streams -> envelopes -> Kinesis, as a Lambda handler.

Lambda entry point: ``producers.handlers.router.handler`` (one event source mapping per
table stream, ``FunctionResponseTypes: [ReportBatchItemFailures]``). A change whose
PutRecords entry still fails after the writer's retries is reported as a batch item
failure, so Lambda delivers it again: a change is never dropped.
"""

from __future__ import annotations

from typing import Any, Sequence

from aws_lambda_powertools.utilities.batch import EventType

from auxeira.runtime.batch import Handler, Staged, lazy_handler, staged_handler
from auxeira.runtime.dead_letters import DeadLetterStore, dead_letter_store
from auxeira.runtime.settings import PipelineSettings
from producers.kinesis_writer import MAX_RECORD_BYTES, KinesisWriter, OutgoingRecord, record_size
from producers.stream_router import partition_key, to_envelope
from schemas.envelope import encode
from schemas.errors import RecordTooLargeError, RetryableSinkError

__all__ = ["CONSUMER", "build_handler", "handler"]

CONSUMER = "router"


def build_handler(writer: KinesisWriter, dead_letters: DeadLetterStore,
                  consumer: str = CONSUMER) -> Handler:
    """A Lambda-shaped handler that routes each batch with as few PutRecords as possible."""

    def prepare(record: Any) -> list[Staged]:
        envelope = to_envelope(record.raw_event)
        key = partition_key(envelope)
        outgoing = OutgoingRecord(encode(envelope), key)
        # Before + after images of a 400 KB item can pass Kinesis' 1 MiB: such a change
        # can never be sent, so it is poison (dead-lettered whole), not a retry.
        if record_size(outgoing) > MAX_RECORD_BYTES:
            raise RecordTooLargeError(f"event {envelope.event_id} ({envelope.event_type} {envelope.key})",
                                      record_size(outgoing), MAX_RECORD_BYTES)
        return [Staged(outgoing, key)]

    def apply(records: Sequence[OutgoingRecord]) -> list[BaseException | None]:
        result = writer.put(list(records))
        failed = {id(r): f"{code}: {message}" for r, code, message in result.failed}
        return [RetryableSinkError(failed[id(r)]) if id(r) in failed else None for r in records]

    return staged_handler(EventType.DynamoDBStreams, prepare=prepare, apply=apply,
                          dead_letters=dead_letters, consumer=consumer)


def _from_settings() -> Handler:
    import boto3

    settings = PipelineSettings()
    client = boto3.client("kinesis", region_name=settings.region, endpoint_url=settings.kinesis_endpoint)
    return build_handler(KinesisWriter(client, settings.stream_name), dead_letter_store(settings.lake_root))


#: Lambda entry point.
handler = lazy_handler(_from_settings)
