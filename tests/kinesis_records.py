"""Factories for envelopes and Kinesis records in the Lambda event shape."""

from __future__ import annotations

import base64
import itertools
import time
from datetime import UTC, datetime
from typing import Any

from schemas import catalog
from schemas.envelope import Envelope, Source, encode, event_id_for

_sequence = itertools.count(49_000_000_000_000_000_000_000)


def envelope(
    key: str = "STARTUP#s1|PROFILE",
    version: int = 1,
    action: str = "updated",
    *,
    entity: str = "startup",
    tenant: str = "t1",
    after: dict[str, Any] | None = None,
) -> Envelope:
    removes = action in ("deleted", "expired")
    state = after if after is not None else {"company_name": f"Co {key} v{version}", "version": version}
    return Envelope(
        event_id=event_id_for("test", f"{tenant}/{key}/{version}/{action}"),
        event_type=f"{entity}.{action}",
        tenant_id=tenant,
        entity=entity,
        key=key,
        version=version,
        source=Source(table="auxeira-startups-test") if entity in catalog.ENTITIES else Source(publisher="svc"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        before=None,
        after=None if removes else state,
    )


def kinesis_record(
    data: bytes | Envelope,
    *,
    shard: str = "shardId-000000000000",
    sequence: str | None = None,
    partition_key: str = "pk",
    arrival: float | None = None,
) -> dict[str, Any]:
    """A Lambda-shaped Kinesis record; it arrived ``arrival`` (epoch seconds; now by default)."""
    payload = encode(data) if isinstance(data, Envelope) else data
    seq = sequence or str(next(_sequence))
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq,
            "data": base64.b64encode(payload).decode("ascii"),
            "approximateArrivalTimestamp": time.time() if arrival is None else arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/consumer",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/auxeira-events-test",
    }


def kinesis_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}
