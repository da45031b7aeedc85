"""Shard readers for the local event source mapping: Kinesis and DynamoDB Streams.

Each turns the service's GetRecords output into records of the exact shape Lambda
delivers, so the same handler functions run locally and on AWS.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["END_SETTLE_SECONDS", "DynamoStreamSource", "KinesisSource", "ReadResult", "Shard", "ShardSource"]

#: How long past a window's end a shard's tip must be read before the window is closed:
#: arrival times are the stream's clock, not ours, so allow for some skew.
END_SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadResult:
    """Records in Lambda shape; ``next_iterator`` is None once a closed shard is read to its end."""

    records: list[dict[str, Any]]
    next_iterator: str | None
    millis_behind: int | None = None


class ShardSource(Protocol):
    event_source: str  # "aws:kinesis" or "aws:dynamodb"

    @property
    def arn(self) -> str: ...

    def shards(self) -> list[Shard]: ...

    def iterator(self, shard_id: str, after: str | None) -> str: ...

    def read(self, shard_id: str, iterator: str, limit: int) -> ReadResult: ...


def _parents(shard: dict[str, Any]) -> tuple[str, ...]:
    return tuple(p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p)


class KinesisSource:
    """One Kinesis data stream."""

    event_source = "aws:kinesis"

    def __init__(
        self,
        client: Any,
        stream_name: str,
        region: str = "us-east-1",
        *,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
    ):
        """``start_at``: a shard with no checkpoint starts ``AT_TIMESTAMP`` there (else at
        ``TRIM_HORIZON``). ``end_at``: records that arrived after it are not delivered, and
        a shard ends (``next_iterator`` None) at its first such record, or at its tip once
        the clock is past ``end_at`` (nothing can arrive before it any more): a replay's window."""
        self.client = client
        self.stream_name = stream_name
        self.region = region
        self.start_at = start_at
        self.end_at = end_at
        self._arn: str | None = None

    @property
    def arn(self) -> str:
        if self._arn is None:
            summary = self.client.describe_stream_summary(StreamName=self.stream_name)
            self._arn = summary["StreamDescriptionSummary"]["StreamARN"]
        return self._arn

    def shards(self) -> list[Shard]:
        out: list[Shard] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            page = self.client.list_shards(**kwargs)
            out += [Shard(s["ShardId"], _parents(s)) for s in page["Shards"]]
            token = page.get("NextToken")
            if not token:
                return out
            kwargs = {"NextToken": token}

    def iterator(self, shard_id: str, after: str | None) -> str:
        kwargs: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard_id}
        if after:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        elif self.start_at is not None:
            kwargs.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=self.start_at)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self.client.get_shard_iterator(**kwargs)["ShardIterator"]

    def read(self, shard_id: str, iterator: str, limit: int) -> ReadResult:
        page = self.client.get_records(ShardIterator=iterator, Limit=limit)
        raw, next_iterator = page.get("Records", []), page.get("NextShardIterator")
        behind = page.get("MillisBehindLatest")
        if self.end_at is not None:
            inside = [r for r in raw if not _arrived_after(r, self.end_at)]
            at_tip = not raw and not behind and time.time() > self.end_at.timestamp() + END_SETTLE_SECONDS
            if len(inside) < len(raw) or at_tip:
                next_iterator = None
            raw = inside
        return ReadResult([self._to_lambda(shard_id, r) for r in raw], next_iterator, behind)

    def _to_lambda(self, shard_id: str, r: dict[str, Any]) -> dict[str, Any]:
        arrival = r.get("ApproximateArrivalTimestamp")
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": r["PartitionKey"],
                "sequenceNumber": r["SequenceNumber"],
                "data": base64.b64encode(r["Data"]).decode("ascii"),
                "approximateArrivalTimestamp": arrival.timestamp() if isinstance(arrival, datetime) else arrival,
            },
            "eventSource": self.event_source,
            "eventVersion": "1.0",
            "eventID": f"{shard_id}:{r['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::000000000000:role/local-runner",
            "awsRegion": self.region,
            "eventSourceARN": self.arn,
        }


def _arrived_after(record: dict[str, Any], end: datetime) -> bool:
    arrival = record.get("ApproximateArrivalTimestamp")
    return isinstance(arrival, datetime) and arrival > end


class DynamoStreamSource:
    """The stream of one DynamoDB table."""

    event_source = "aws:dynamodb"

    def __init__(self, client: Any, stream_arn: str):
        self.client = client
        self.arn = stream_arn

    def shards(self) -> list[Shard]:
        out: list[Shard] = []
        kwargs: dict[str, Any] = {"StreamArn": self.arn}
        while True:
            desc = self.client.describe_stream(**kwargs)["StreamDescription"]
            out += [Shard(s["ShardId"], _parents(s)) for s in desc.get("Shards", [])]
            last = desc.get("LastEvaluatedShardId")
            if not last:
                return out
            kwargs["ExclusiveStartShardId"] = last

    def iterator(self, shard_id: str, after: str | None) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard_id}
        if after:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self.client.get_shard_iterator(**kwargs)["ShardIterator"]

    def read(self, shard_id: str, iterator: str, limit: int) -> ReadResult:
        page = self.client.get_records(ShardIterator=iterator, Limit=limit)
        return ReadResult([self._to_lambda(r) for r in page.get("Records", [])], page.get("NextShardIterator"))

    def _to_lambda(self, r: dict[str, Any]) -> dict[str, Any]:
        record = dict(r)
        ddb = dict(record["dynamodb"])
        created = ddb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            ddb["ApproximateCreationDateTime"] = created.timestamp()
        record["dynamodb"] = ddb
        record["eventSourceARN"] = self.arn
        return record
