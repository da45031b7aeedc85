"""Factories for DynamoDB stream records in the Lambda event shape, as AWS and DynamoDB Local send them."""

from __future__ import annotations

import itertools
import time
from typing import Any

from schemas.wire.dynamodb import serialize_item

_sequence = itertools.count(1_000_000_000_000_000_000)

AWS_TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def stream_record(
    table_name: str,
    event_name: str,
    *,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    key_attrs: tuple[str, ...] = ("PK", "SK"),
    sequence: str | None = None,
    user_identity: dict[str, str] | None = None,
    created: float | None = None,
) -> dict[str, Any]:
    """One stream record; ``event_name`` INSERT, MODIFY, REMOVE or UNKNOWN_TO_SDK_VERSION.

    ``created`` is its ``ApproximateCreationDateTime`` (epoch seconds; now by default).
    """
    image = new if new is not None else old
    assert image is not None, "a stream record needs an image"
    ddb: dict[str, Any] = {
        "ApproximateCreationDateTime": time.time() if created is None else created,
        "Keys": serialize_item({a: image[a] for a in key_attrs if a in image}),
        "SequenceNumber": sequence or str(next(_sequence)),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        ddb["NewImage"] = serialize_item(new)
    if old is not None:
        ddb["OldImage"] = serialize_item(old)
    record: dict[str, Any] = {
        "eventID": f"evt-{ddb['SequenceNumber']}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": ddb,
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table_name}/stream/2026-01-01T00:00:00.000",
    }
    if user_identity is not None:
        record["userIdentity"] = user_identity
    return record


def stream_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}
