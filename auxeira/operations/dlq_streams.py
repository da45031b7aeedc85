"""The records of a failure record without payload, read back from their stream by position.

An SQS- or SNS-shaped on-failure record (and any record whose payload was lost) names
only a shard and a sequence range. While the stream still retains them, the records are
read again: ``GetShardIterator AT_SEQUENCE_NUMBER`` at the first sequence number, then
``GetRecords`` until the last one, through the same readers the local runner uses
(:mod:`auxeira.runtime.shard_sources`), so they come back in exactly the Lambda shape the
handlers take.

Past retention (24 h by default on both Kinesis and DynamoDB Streams) the stream gives
nothing, or starts later than the range: the service refuses the iterator
(``TrimmedDataAccessException``, ``ResourceNotFoundException`` once the shard is gone,
``InvalidArgumentException``), or the first record read is not the first asked for. Either
way :class:`Fetched` says how much is missing and what to run instead: a replay from the
lake for events, a backfill of the table for a table stream (the lake never saw changes
the router did not route).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from auxeira.operations.dlq_items import DlqItem
from auxeira.runtime.shard_sources import DynamoStreamSource, KinesisSource, ReadResult
from schemas.resources import mapping

__all__ = ["Fetched", "RangeReader", "StreamClients", "lost_hint"]

#: What the services answer when a position is no longer (or never was) in the stream.
_GONE = frozenset({"TrimmedDataAccessException", "ResourceNotFoundException", "InvalidArgumentException"})


class StreamClients(Protocol):
    """The two stream clients (an :class:`~auxeira.operations.environment.Environment` has both)."""

    @property
    def kinesis(self) -> Any: ...

    @property
    def streams(self) -> Any: ...


@dataclass(frozen=True)
class Fetched:
    """The records of a range as the stream still holds them.

    Attributes:
        retained: ``all`` (first and last record read), ``partial`` or ``none``.
        note: what is missing and the command that recovers it (empty when nothing is).
    """

    records: list[dict[str, Any]]
    expected: int
    retained: Literal["all", "partial", "none"]
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"retained": self.retained, "read": len(self.records), "expected": self.expected, "note": self.note}


class RangeReader:
    """Reads a failure record's sequence range from its stream.

    Args:
        page_limit: records per GetRecords call.
        max_empty_pages: empty pages in a row after which an open DynamoDB shard is taken
            to hold nothing more (Kinesis says so itself: ``MillisBehindLatest == 0``).
    """

    def __init__(self, clients: StreamClients, page_limit: int = 1000, max_empty_pages: int = 3):
        self.clients = clients
        self.page_limit = page_limit
        self.max_empty_pages = max_empty_pages

    def fetch(self, item: DlqItem) -> Fetched:
        if item.source not in ("kinesis", "dynamodb") or not item.first_sequence:
            return Fetched([], item.batch_size, "none", "no stream position to read from")
        try:
            read = self._kinesis(item) if item.source == "kinesis" else self._dynamodb(item)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _GONE:
                raise
            return _verdict(item, [], f"{exc.response['Error'].get('Code')}")
        return _verdict(item, self._read(read, item), "")

    def _kinesis(self, item: DlqItem) -> Callable[[str | None], ReadResult]:
        name, region = _kinesis_stream(item.source_arn)
        client = self.clients.kinesis
        iterator = client.get_shard_iterator(
            StreamName=name,
            ShardId=item.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=item.first_sequence,
        )["ShardIterator"]
        source = KinesisSource(client, name, region)
        return _reader(lambda it: source.read(item.shard_id, it, self.page_limit), iterator)

    def _dynamodb(self, item: DlqItem) -> Callable[[str | None], ReadResult]:
        client = self.clients.streams
        iterator = client.get_shard_iterator(
            StreamArn=item.source_arn,
            ShardId=item.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=item.first_sequence,
        )["ShardIterator"]
        source = DynamoStreamSource(client, item.source_arn)
        return _reader(lambda it: source.read(item.shard_id, it, self.page_limit), iterator)

    def _read(self, read: Callable[[str | None], ReadResult], item: DlqItem) -> list[dict[str, Any]]:
        """Records from the first to the last sequence number of the range, in order."""
        first, last = int(item.first_sequence), int(item.last_sequence)
        out: list[dict[str, Any]] = []
        empty = 0
        result = read(None)
        while True:
            for record in result.records:
                sequence = int(_sequence(record))
                if sequence > last:
                    return out
                if sequence >= first:
                    out.append(record)
                if sequence == last:
                    return out
            if not result.records:
                empty += 1
                if result.millis_behind == 0 or empty >= self.max_empty_pages:
                    return out
            else:
                empty = 0
            if result.next_iterator is None:  # a closed shard read to its end
                return out
            result = read(result.next_iterator)


def lost_hint(item: DlqItem) -> str:
    """The command that recovers records the stream no longer holds."""
    if item.source == "dynamodb":
        table = item.source_arn.partition(":table/")[2].split("/", 1)[0] or "<table>"
        return f"the table stream no longer holds them: rebuild from the table with `auxeira backfill --table {table}`"
    start, end = item.first_arrival, item.last_arrival
    if not start:
        age = timedelta(seconds=mapping(item.consumer).maximum_record_age_seconds if item.consumer != "unknown" else 0)
        at = item.time
        start = (at - age).isoformat() if at else "<when they arrived>"
        end = item.at
    projection = item.consumer if item.consumer in ("cache", "search", "counters") else "all"
    return (
        f"replay them from the lake: `auxeira replay --projection {projection} --source lake --from {start} --to {end}`"
    )


def _verdict(item: DlqItem, records: list[dict[str, Any]], refused: str) -> Fetched:
    expected = item.batch_size
    got = [_sequence(r) for r in records]
    if got and got[0] == item.first_sequence and got[-1] == item.last_sequence:
        return Fetched(records, max(expected, len(records)), "all")
    if not records:
        why = f"the stream refused the position ({refused})" if refused else "the stream holds none of them"
        note = f"{expected or 'all'} record(s) no longer retained: {why}; {lost_hint(item)}"
        return Fetched([], expected, "none", note)
    missing = max(expected - len(records), 1)
    if got[0] != item.first_sequence:
        where = f"the stream now starts at {got[0]}, after {item.first_sequence}"
    else:
        where = f"the last record read is {got[-1]}, before {item.last_sequence}"
    note = f"{missing} of {expected or '?'} record(s) no longer retained ({where}); {lost_hint(item)}"
    return Fetched(records, expected, "partial", note)


def _reader(read: Callable[[str], ReadResult], first_iterator: str) -> Callable[[str | None], ReadResult]:
    return lambda iterator: read(iterator or first_iterator)


def _kinesis_stream(arn: str) -> tuple[str, str]:
    """``arn:aws:kinesis:<region>:<account>:stream/<name>`` -> (name, region)."""
    parts = arn.split(":")
    name = arn.rsplit("stream/", 1)[-1]
    return name, parts[3] if len(parts) > 3 and parts[3] else "us-east-1"


def _sequence(record: dict[str, Any]) -> str:
    if "kinesis" in record:
        return str(record["kinesis"]["sequenceNumber"])
    return str(record["dynamodb"]["SequenceNumber"])
