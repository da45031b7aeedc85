"""Builders for the lake's tests: envelopes, Lambda-shaped Kinesis records, an archived lake."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from auxeira.runtime.dead_letters import DeadLetterStore
from auxeira.runtime.objects import LocalObjects
from consumers.handlers.archiver import build_handler
from consumers.sinks.archive import ArchiveSink
from schemas.envelope import Envelope, Source, encode

KEY = b"unit-test-pii-key-0123456789"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/auxeira-events-t"


def envelope(
    entity: str = "startup",
    n: int = 0,
    *,
    version: int = 1,
    tenant: str = "t1",
    after: dict[str, Any] | None = None,
    event_type: str | None = None,
    at: datetime = datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
    sequence: str | None = None,
    event_id: str | None = None,
    key: str | None = None,
) -> Envelope:
    """An envelope of a table entity (or a published one, with ``event_type``)."""
    after = after if after is not None else {"tenant_id": tenant, "startup_id": f"s{n}", "company_name": f"Co {n}"}
    return Envelope(
        event_id=event_id or f"{entity}-{n}-v{version}-{sequence or 0}",
        event_type=event_type or f"{entity}.{'created' if version == 1 else 'updated'}",
        tenant_id=tenant,
        entity=entity,
        key=key or f"{entity.upper()}#s{n}|PROFILE",
        version=version,
        source=Source(table=f"auxeira-{entity}s-t", sequence_number=sequence or str(1000 + n * 10 + version)),
        occurred_at=at,
        before=None,
        after=after,
    )


def kinesis_record(payload: bytes, sequence: int, arrival: float, shard: str = "shardId-000000000000") -> dict:
    """A Lambda-shaped Kinesis record."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "k",
            "sequenceNumber": str(sequence),
            "data": base64.b64encode(payload).decode("ascii"),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{sequence}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def stream_of(envelopes: Sequence[Envelope], *, first: int = 5000, arrival: float | None = None) -> list[dict]:
    """One shard's records of these envelopes, sequence numbers from ``first``, each arriving
    a second after it occurred (or all at ``arrival``)."""
    return [
        kinesis_record(encode(e), first + i, arrival if arrival is not None else e.occurred_at.timestamp() + 1)
        for i, e in enumerate(envelopes)
    ]


def archive_records(lake: LocalObjects, records: Sequence[dict], batch: int = 50) -> None:
    """The archiver's handler over ``records`` in batches of ``batch``; every record archived."""
    handle = build_handler(ArchiveSink(lake), DeadLetterStore(lake), clock=lambda: 0.0)
    for start in range(0, len(records), batch):
        assert handle({"Records": list(records[start : start + batch])}, None) == {"batchItemFailures": []}


def archive_envelopes(lake: LocalObjects, envelopes: Iterable[Envelope], *, first: int = 5000) -> None:
    archive_records(lake, stream_of(list(envelopes), first=first))
