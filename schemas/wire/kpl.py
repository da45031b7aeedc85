"""KPL aggregated-record framing: how many user records travel in one Kinesis record.

The format is the Kinesis Producer Library's (``aws-kinesis-agg``): the magic bytes
``F3 89 9A C2``, a protobuf ``AggregatedRecord`` (a partition key table and the user
records, each with its key index and data), and the MD5 of the protobuf. Producers
pack with :class:`producers.aggregation.Aggregator`; every consumer unpacks with
:func:`deaggregate`, which returns a plain record unchanged, so aggregated and plain
records can share a stream.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from functools import lru_cache
from types import ModuleType

from schemas.errors import PoisonRecordError

__all__ = ["MAGIC", "deaggregate", "is_aggregated", "kpl_module"]

MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST_BYTES = 16
_KPL_LOCK = threading.Lock()  # two threads saving and restoring sys.path must not interleave


def is_aggregated(data: bytes) -> bool:
    """True when ``data`` starts like a KPL aggregated record."""
    return data[:4] == MAGIC and len(data) > len(MAGIC) + _DIGEST_BYTES


def deaggregate(data: bytes) -> list[bytes]:
    """The user records' data in an aggregated record, in order; ``[data]`` for a plain one.

    Raises:
        PoisonRecordError: the magic bytes are there but the digest does not match or
            the protobuf does not parse. (``aws_kinesis_agg.deaggregator`` would pass
            such a record on as plain data, or print an error and drop the rest of its
            user records; neither is acceptable here.)
    """
    if not is_aggregated(data):
        return [data]
    body, digest = data[len(MAGIC) : -_DIGEST_BYTES], data[-_DIGEST_BYTES:]
    if hashlib.md5(body).digest() != digest:
        raise PoisonRecordError("KPL aggregated record: MD5 digest does not match its body")
    message = kpl_module().messages_pb2.AggregatedRecord()
    try:
        message.ParseFromString(body)
    except Exception as exc:
        raise PoisonRecordError(f"KPL aggregated record: protobuf does not parse: {exc}") from exc
    keys = len(message.partition_key_table)
    if any(record.partition_key_index >= keys for record in message.records):
        raise PoisonRecordError("KPL aggregated record: a user record's partition key index is out of range")
    return [record.data for record in message.records]


@lru_cache(maxsize=1)
def kpl_module() -> ModuleType:
    """The ``aws_kinesis_agg`` package, loaded on first use.

    Its modules put their own folder first on ``sys.path`` at import (so that
    ``messages_pb2`` can ``import config_pb2``); the path is restored once they are
    loaded, so that folder does not shadow other top-level modules for the rest of the
    process.
    """
    with _KPL_LOCK:
        saved = list(sys.path)
        try:
            import aws_kinesis_agg
            from aws_kinesis_agg import aggregator, messages_pb2  # noqa: F401 - loads both
        finally:
            sys.path[:] = saved
    return aws_kinesis_agg
