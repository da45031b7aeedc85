"""On-failure records: what an event source mapping writes when it discards a batch.

On AWS, Lambda writes one object per discarded batch to the mapping's S3 on-failure
destination (Lambda developer guide, "Retain discarded batch records for a Kinesis Data
Streams event source" and "... DynamoDB"): ``requestContext`` (``condition``:
``RetryAttemptsExhausted`` or ``RecordAgeExceeded``, ``approximateInvokeCount``),
``responseContext`` (optional), ``version``, ``timestamp``, ``KinesisBatchInfo`` or
``DDBStreamBatchInfo`` (shard, first and last sequence number, arrival times, batch
size, stream ARN) and ``payload``, the whole invocation event as an escaped JSON
string, under ``aws/lambda/<mapping UUID>/<shard>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>``.

The local runner writes the same shape under the lake's ``failures/`` prefix, so the
redrive reads one format from both. Two differences, both deliberate: the local
payload's records are redacted (:func:`schemas.secrets.redact_record`; on AWS the
router's failure bucket is the one place a raw image can land, and only when the
router itself crashes for the whole record age), and the local object name has a
``.json`` suffix. :func:`parse` accepts both, a ``payload`` given as a string or as an
object (emulators differ), and no ``payload`` at all (an SQS/SNS-shaped record: then
the records must be fetched from the stream while it still holds them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from auxeira.runtime.dead_letters import record_position, secret_paths_of
from auxeira.runtime.objects import ObjectStore
from schemas.resources import LAKE
from schemas.secrets import redact_record

__all__ = ["FailureRecord", "FailureRecords", "build", "mapping_uuid", "object_key", "parse"]

_NAMESPACE = uuid.UUID("1c4f0e9a-7d3b-4a3e-9b1f-5f0f2c6d8e41")


def mapping_uuid(consumer: str, source_arn: str) -> str:
    """A stable id for a local mapping (AWS gives every mapping a UUID of its own)."""
    return str(uuid.uuid5(_NAMESPACE, f"{consumer}\x1f{source_arn}"))


@dataclass(frozen=True)
class FailureRecord:
    """A discarded batch, as read back from either runtime.

    Attributes:
        records: the batch's Lambda-shaped records; None when the record carries no
            payload (fetch them from the stream by sequence range).
    """

    key: str
    condition: str
    invoke_count: int
    timestamp: str
    kind: str  # "kinesis" or "dynamodb"
    shard_id: str
    start_sequence: str
    end_sequence: str
    stream_arn: str
    batch_size: int
    records: list[dict[str, Any]] | None


def object_key(mapping_id: str, shard_id: str, at: datetime) -> str:
    """Where a failure record goes, as Lambda names it (plus ``.json`` locally)."""
    day, second = at.strftime("%Y/%m/%d"), at.strftime("%Y-%m-%dT%H.%M.%S")
    return f"{LAKE.failures}/aws/lambda/{mapping_id}/{shard_id}/{day}/{second}-{uuid.uuid4()}.json"


def build(
    records: Sequence[Mapping[str, Any]],
    *,
    consumer: str,
    condition: str,
    invoke_count: int,
    function_error: str | None,
    at: datetime,
    shard_id: str | None = None,
) -> dict[str, Any]:
    """The failure record of a discarded batch, in the AWS S3 shape (records redacted)."""
    first, last = records[0], records[-1]
    arn, shard, start = record_position(first)
    end = record_position(last)[2]
    kinesis = "kinesis" in first
    info = {
        "shardId": shard_id or shard,
        "startSequenceNumber": start,
        "endSequenceNumber": end,
        "approximateArrivalOfFirstRecord": _arrival(first),
        "approximateArrivalOfLastRecord": _arrival(last),
        "batchSize": len(records),
        "streamArn": arn,
    }
    document: dict[str, Any] = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"local:function:{consumer}",
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "version": "1.0",
        "timestamp": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        ("KinesisBatchInfo" if kinesis else "DDBStreamBatchInfo"): info,
        "payload": orjson.dumps({"Records": [redact_record(r, secret_paths_of(r)) for r in records]}).decode(),
    }
    if function_error:
        document["responseContext"]["functionError"] = function_error
    return document


def parse(key: str, body: bytes | Mapping[str, Any]) -> FailureRecord:
    """Read a failure record written by Lambda or by the local runner."""
    doc = orjson.loads(body) if isinstance(body, (bytes, str)) else dict(body)
    kind, info = (
        ("kinesis", doc["KinesisBatchInfo"]) if "KinesisBatchInfo" in doc else ("dynamodb", doc["DDBStreamBatchInfo"])
    )
    payload = doc.get("payload")
    if isinstance(payload, str):
        payload = orjson.loads(payload)
    records = list(payload.get("Records", [])) if isinstance(payload, Mapping) else None
    context = doc.get("requestContext", {})
    return FailureRecord(
        key=key,
        condition=str(context.get("condition", "")),
        invoke_count=int(context.get("approximateInvokeCount", 0)),
        timestamp=str(doc.get("timestamp", "")),
        kind=kind,
        shard_id=str(info.get("shardId", "")),
        start_sequence=str(info.get("startSequenceNumber", "")),
        end_sequence=str(info.get("endSequenceNumber", "")),
        stream_arn=str(info.get("streamArn", "")),
        batch_size=int(info.get("batchSize", 0)),
        records=records,
    )


class FailureRecords:
    """Failure records under the lake's ``failures/`` prefix (or Lambda's, on the failure bucket)."""

    def __init__(self, objects: ObjectStore):
        self.objects = objects

    def put(self, document: Mapping[str, Any], *, consumer: str) -> str:
        info = document.get("KinesisBatchInfo") or document["DDBStreamBatchInfo"]
        at = datetime.fromisoformat(str(document["timestamp"]).replace("Z", "+00:00"))
        key = object_key(mapping_uuid(consumer, info["streamArn"]), info["shardId"], at)
        self.objects.put(key, orjson.dumps(document, option=orjson.OPT_INDENT_2))
        return key

    def list(self) -> Iterator[FailureRecord]:
        for key in self.objects.list(f"{LAKE.failures}/"):
            yield parse(key, self.objects.get(key))


def _arrival(record: Mapping[str, Any]) -> str | None:
    if "kinesis" in record:
        value = record["kinesis"].get("approximateArrivalTimestamp")
    else:
        value = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if not isinstance(value, (int, float)):
        return None
    return datetime.fromtimestamp(float(value), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
