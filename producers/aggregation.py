"""KPL-compatible record aggregation: many small events in one Kinesis record, and back.

The format is the Kinesis Producer Library's (``aws-kinesis-agg``): the magic bytes
``F3 89 9A C2``, a protobuf ``AggregatedRecord`` (a partition key table and the user
records, each with its key index and data), and the MD5 of the protobuf.

Routing and per-key order: why buckets
--------------------------------------
Kinesis routes a record by the MD5 of its partition key, and an aggregated record has
one partition key: plain KPL aggregation uses the first user record's, so user records
of key B can ride on A's record to A's shard. If B's next event rides on C's record to
another shard, B's events are on two shards and their order is gone. (The KPL avoids
this with a live shard map: it aggregates per predicted shard.) Aggregating per
partition key would keep order but packs almost nothing when keys are many (every
page view has its own key).

This module aggregates per *hash bucket* instead, with no shard map and no I/O:

1. A user record's bucket is the top bits of the MD5 of its partition key
   (``buckets`` is a power of two, 256 by default): the hash range Kinesis itself
   would use, cut in ``buckets`` equal slices.
2. Each bucket has one fixed partition key for its aggregated records,
   ``agg:{bucket}:{n}``, with the smallest ``n`` whose own MD5 falls in that bucket.
3. So every event of key B always travels in a record of B's bucket, with the same
   partition key: one shard, and the writer keeps per-partition-key order, so B's
   events reach the stream in order. Different keys of one bucket are ordered too
   (more than needed).
4. On a stream whose shards split the hash range evenly into a power of two (up to
   ``buckets``), a bucket lies inside one shard, the very shard its user records would
   reach unaggregated: switching aggregation on moves no key to another shard, and a
   KCL consumer (which drops user records whose hash is outside its shard) keeps them
   all. With other shard layouts order still holds; only that last property is lost.

A user record too big to share a 1 MiB record is sent alone, not aggregated, under
its bucket's partition key (consumers read both kinds).

Consumers call :func:`deaggregate`, which returns a plain record unchanged, so
aggregated and plain records can share a stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from producers.kinesis_writer import MAX_RECORD_BYTES, OutgoingRecord, effective_partition_key
from schemas.wire.kpl import MAGIC, deaggregate, is_aggregated, kpl_module

__all__ = [
    "DEFAULT_BUCKETS",
    "MAGIC",
    "Aggregator",
    "bucket_of",
    "bucket_partition_key",
    "deaggregate",
    "is_aggregated",
]

DEFAULT_BUCKETS = 256
# Finding a bucket's key costs ~`buckets` MD5s; 1024 buckets is ~1 M MD5s in all.
_MAX_BUCKETS = 1024


def bucket_of(partition_key: str, buckets: int = DEFAULT_BUCKETS) -> int:
    """The hash bucket of a partition key: the top bits of its 128-bit MD5, as Kinesis hashes."""
    digest = hashlib.md5(partition_key.encode("utf-8", "surrogatepass")).digest()
    return (int.from_bytes(digest, "big") * buckets) >> 128


@cache
def bucket_partition_key(bucket: int, buckets: int = DEFAULT_BUCKETS) -> str:
    """The fixed partition key of a bucket's aggregated records; its MD5 lies in the bucket."""
    n = 0
    while bucket_of(f"agg:{bucket}:{n}", buckets) != bucket:
        n += 1
    return f"agg:{bucket}:{n}"


@dataclass(frozen=True)
class Aggregator:
    """Packs records into KPL aggregated records by hash bucket (see the module docstring).

    Attributes:
        buckets: a power of two from 1 to 1024; more buckets spread load over more
            shards, fewer pack more events per record.
        max_record_bytes: size cap of one Kinesis record (data + partition key).
    """

    buckets: int = DEFAULT_BUCKETS
    max_record_bytes: int = MAX_RECORD_BYTES

    def __post_init__(self) -> None:
        if not (1 <= self.buckets <= _MAX_BUCKETS and self.buckets & (self.buckets - 1) == 0):
            raise ValueError(f"buckets must be a power of two from 1 to {_MAX_BUCKETS}, got {self.buckets}")

    def routing_key(self, partition_key: str) -> str:
        """The partition key the records carrying ``partition_key`` are sent with."""
        bucket = bucket_of(effective_partition_key(partition_key), self.buckets)
        return bucket_partition_key(bucket, self.buckets)

    def aggregate(self, records: Sequence[OutgoingRecord]) -> list[OutgoingRecord]:
        """Aggregated records carrying ``records``; each one's ``ref`` is the tuple of its
        input records, in input order. Per bucket, output order is input order."""
        groups: dict[str, list[OutgoingRecord]] = {}
        for record in records:
            groups.setdefault(self.routing_key(record.partition_key), []).append(record)
        packed: list[OutgoingRecord] = []
        for key, members in groups.items():
            packed.extend(self._pack(key, members))
        return packed

    def _pack(self, key: str, members: list[OutgoingRecord]) -> list[OutgoingRecord]:
        limit = self.max_record_bytes - len(key.encode("utf-8"))
        out: list[OutgoingRecord] = []
        current = _agg_record(limit)
        carried: list[OutgoingRecord] = []
        for member in members:
            member_key = effective_partition_key(member.partition_key)
            try:
                added = current.add_user_record(member_key, member.data)
            except ValueError:  # too big to share a record even alone: send it plain
                out += _close(key, current, carried)
                out.append(OutgoingRecord(member.data, key, ref=(member,)))
                current, carried = _agg_record(limit), []
                continue
            if not added:
                out += _close(key, current, carried)
                current, carried = _agg_record(limit), []
                current.add_user_record(member_key, member.data)
            carried.append(member)
        return out + _close(key, current, carried)


class _AggRecord(Protocol):
    """What this module uses of ``aws_kinesis_agg.aggregator.AggRecord`` (untyped)."""

    def add_user_record(self, partition_key: str, data: bytes, explicit_hash_key: str | None = None) -> bool: ...

    def get_contents(self) -> tuple[str, str, bytes]: ...


def _agg_record(limit: int) -> _AggRecord:
    return kpl_module().aggregator.AggRecord(limit)


def _close(key: str, agg: _AggRecord, members: list[OutgoingRecord]) -> list[OutgoingRecord]:
    if not members:
        return []
    _, _, data = agg.get_contents()
    return [OutgoingRecord(data, key, ref=tuple(members))]
