"""The lake's raw archive as a shard source: replay beyond Kinesis retention, same runner.

A replay from the lake runs through the very :class:`~auxeira.runtime.mapping_runner.LocalEventSourceMapping`
a Kinesis replay uses (leases, conditional per-shard checkpoints, backoff, failure
records), because the archive keeps what that needs (:mod:`consumers.sinks.archive_layout`):
each object names its stream, shard and sequence range, and each line holds the record's
arrival time, sequence number, user-record index and the envelope bytes as they arrived.
So the records this source rebuilds carry the **same shard ids and sequence numbers** as
the stream delivered: checkpoints are positions in the original shards, and the counters'
per-shard watermarks recognise an already-counted record exactly as in a Kinesis replay.

A KPL aggregated record was archived as one line per user record; its lines are packed
again into one aggregated record, since the record (not the user record) is the unit the
counters watermark. Two things the archive does not keep: the record's partition key
(rebuilt from the envelope; no consumer reads it) and the shard lineage (every shard is
read at once; the projections' order rule makes a parent/child interleaving harmless, and
counter deltas add up in any order).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from auxeira.runtime.objects import ObjectStore
from auxeira.runtime.shard_sources import ReadResult, Shard
from consumers.sinks.archive_layout import ObjectRange, hour_prefix, parse_object_name, payload_of, safe
from schemas.envelope import decode, partition_key
from schemas.wire.kpl import MAGIC, kpl_module

__all__ = ["ArchivedRecord", "LakeSource", "window_objects"]


@dataclass(frozen=True)
class ArchivedRecord:
    """One Kinesis record as the archive holds it: position, arrival and its envelopes' bytes."""

    shard: str
    sequence: str
    arrival: float
    payloads: tuple[bytes, ...]

    @property
    def data(self) -> bytes:
        """The record's data as Kinesis carried it: one envelope, or a KPL aggregated record."""
        if len(self.payloads) == 1:
            return self.payloads[0]
        return _aggregate(self.payloads, _partition_key(self.payloads[0]))


def window_objects(objects: ObjectStore, stream: str, start: datetime, end: datetime) -> list[tuple[ObjectRange, str]]:
    """The archive objects of ``stream`` in the hour folders the window touches, in shard and sequence order."""
    found = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        for key in objects.list(hour_prefix(hour.timestamp())):
            declared = parse_object_name(key)
            if declared is not None and declared.stream == safe(stream):
                found.append((declared, key))
        hour += timedelta(hours=1)
    return sorted(found, key=lambda pair: (pair[0].shard, pair[0].first))


class LakeSource:
    """Archived records of one stream arriving in ``[start, end]``, shaped as Lambda delivers them.

    The iterator of a shard is the last sequence number read (empty: from the window's start).
    """

    event_source = "aws:kinesis"

    def __init__(
        self, objects: ObjectStore, stream_name: str, arn: str, start: datetime, end: datetime, region: str
    ) -> None:
        self.objects, self.stream_name, self.region = objects, stream_name, region
        self.start, self.end = start.timestamp(), end.timestamp()
        self._arn, self._window = arn, (start, end)
        self._index: dict[str, list[tuple[ObjectRange, str]]] | None = None
        self._loaded: dict[str, tuple[str, list[ArchivedRecord]]] = {}  # shard -> (key, records) last read

    @property
    def arn(self) -> str:
        return self._arn

    @property
    def keys(self) -> list[str]:
        """Every object the window reads (for the dry run's plan)."""
        return [key for objects in self._objects().values() for _, key in objects]

    def shards(self) -> list[Shard]:
        return [Shard(shard) for shard in sorted(self._objects())]

    def iterator(self, shard_id: str, after: str | None) -> str:
        return after or ""

    def read(self, shard_id: str, iterator: str, limit: int) -> ReadResult:
        after = int(iterator) if iterator else -1
        out: list[dict[str, Any]] = []
        for declared, key in self._objects().get(shard_id, []):
            if declared.last <= after:
                continue
            for record in self._records(shard_id, key):
                if int(record.sequence) <= after or not self.start <= record.arrival <= self.end:
                    continue
                out.append(self._to_lambda(record))
                if len(out) == limit:
                    return ReadResult(out, record.sequence, 0)
        return ReadResult(out, out[-1]["kinesis"]["sequenceNumber"] if out else None, 0)

    def _objects(self) -> dict[str, list[tuple[ObjectRange, str]]]:
        if self._index is None:
            self._index = {}
            for declared, key in window_objects(self.objects, self.stream_name, *self._window):
                self._index.setdefault(declared.shard, []).append((declared, key))
        return self._index

    def _records(self, shard_id: str, key: str) -> list[ArchivedRecord]:
        cached = self._loaded.get(shard_id)
        if cached is None or cached[0] != key:
            cached = (key, list(_read_object(shard_id, self.objects.get(key))))
            self._loaded[shard_id] = cached
        return cached[1]

    def _to_lambda(self, record: ArchivedRecord) -> dict[str, Any]:
        data = record.data
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": _partition_key(record.payloads[0]),
                "sequenceNumber": record.sequence,
                "data": base64.b64encode(data).decode("ascii"),
                "approximateArrivalTimestamp": record.arrival,
            },
            "eventSource": self.event_source,
            "eventVersion": "1.0",
            "eventID": f"{record.shard}:{record.sequence}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::000000000000:role/replay",
            "awsRegion": self.region,
            "eventSourceARN": self._arn,
        }


def _read_object(shard: str, body: bytes) -> Iterator[ArchivedRecord]:
    """The records of one archive object, in sequence order, user records packed back together."""
    current: tuple[str, float] | None = None
    payloads: list[bytes] = []
    for raw in gzip.decompress(body).splitlines():
        if not raw.strip():
            continue
        head = orjson.loads(raw)
        position = (str(head["seq"]), float(head["arrival"]))
        if current is not None and position[0] != current[0]:
            yield ArchivedRecord(shard, current[0], current[1], tuple(payloads))
            payloads = []
        current = position
        payloads.append(payload_of(raw))
    if current is not None:
        yield ArchivedRecord(shard, current[0], current[1], tuple(payloads))


def _partition_key(payload: bytes) -> str:
    try:
        return partition_key(decode(payload))
    except Exception:  # noqa: BLE001 - a poison payload keeps no key; its consumer dead-letters it
        return "unknown"


def _aggregate(payloads: tuple[bytes, ...], key: str) -> bytes:
    """A KPL aggregated record of these user records (the framing :func:`schemas.wire.kpl.deaggregate` reads)."""
    message = kpl_module().messages_pb2.AggregatedRecord()
    message.partition_key_table.append(key)
    for payload in payloads:
        record = message.records.add()
        record.partition_key_index = 0
        record.data = payload
    body = message.SerializeToString()
    return MAGIC + body + hashlib.md5(body).digest()
