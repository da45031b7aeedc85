"""The raw archive's layout: where a record lands, what its object is called, what a line holds.

Layout, under the lake root (a directory here, ``s3://bucket/prefix`` on AWS)::

    raw/events/dt=YYYY-MM-DD/hour=HH/{stream}-{shard}-{first}-{last}.jsonl.gz

* ``dt`` and ``hour`` are the record's **Kinesis arrival time** (UTC), which Kinesis
  stores with the record: a redelivery or a replay puts a record in the same folder.
* ``first`` and ``last`` are the Kinesis sequence numbers of the first and last record
  the object holds, all of one shard. The objects of one shard and hour never overlap:
  an object holds *every* record of its shard and hour whose sequence number is in its
  range, except records some other object already held when it was written. That is the
  exactly-once rule of :mod:`consumers.sinks.archive`.
* The object is gzip (mtime 0, so the same records give the same bytes) of JSON Lines,
  one line per envelope (a KPL aggregated record gives one line per user record)::

      {"arrival":1767225600.123,"seq":"4959...","sub":0,"data":<the envelope bytes>}

  ``data`` is the envelope exactly as it arrived, unknown fields and all; it is the tail
  of the line, so :func:`payload_of` returns the original bytes. (A payload holding a
  line break, which only a foreign publisher could send, is re-encoded compactly:
  the same JSON value, one line.)

The Glue jobs read this format by its documented keys (``glue_jobs`` may not import
``consumers``); ``tests/unit/lake`` checks that both sides agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from schemas.resources import LAKE

__all__ = [
    "EXTENSION",
    "ObjectRange",
    "hour_prefix",
    "line",
    "object_name",
    "parse_object_name",
    "payload_of",
    "safe",
]

EXTENSION = ".jsonl.gz"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_NAME = re.compile(r"^(?P<stream>.+)-(?P<shard>[A-Za-z0-9_.]+-\d+)-(?P<first>\d+)-(?P<last>\d+)\.jsonl\.gz$")
_DATA = b',"data":'


def safe(text: str) -> str:
    """A name part safe in S3 keys and file names."""
    return _UNSAFE.sub("_", text)


def hour_prefix(arrival: float) -> str:
    """The folder of a record that arrived at ``arrival`` (epoch seconds): ``raw/events/dt=.../hour=HH/``."""
    at = datetime.fromtimestamp(arrival, UTC)
    return f"{LAKE.raw}/dt={at:%Y-%m-%d}/hour={at:%H}/"


def object_name(stream: str, shard: str, first: str, last: str) -> str:
    """``{stream}-{shard}-{first}-{last}.jsonl.gz`` (sequence numbers as Kinesis gives them)."""
    return f"{safe(stream)}-{safe(shard)}-{first}-{last}{EXTENSION}"


@dataclass(frozen=True)
class ObjectRange:
    """The shard and sequence range an object's name declares."""

    stream: str
    shard: str
    first: int
    last: int

    def covers(self, sequence: int) -> bool:
        return self.first <= sequence <= self.last


def parse_object_name(name: str) -> ObjectRange | None:
    """The range of an archive object's name (its last path part); None for anything else."""
    match = _NAME.match(name.rsplit("/", 1)[-1])
    if match is None:
        return None
    return ObjectRange(match["stream"], match["shard"], int(match["first"]), int(match["last"]))


def line(arrival: float, sequence: str, sub: int, payload: bytes) -> bytes:
    """One archive line (no trailing newline); ``payload`` is a JSON object's bytes."""
    if b"\n" in payload or b"\r" in payload:
        payload = orjson.dumps(orjson.loads(payload))
    head = orjson.dumps({"arrival": arrival, "seq": sequence, "sub": sub})
    return head[:-1] + _DATA + payload + b"}"


def payload_of(archived: bytes) -> bytes:
    """The envelope bytes of one archive line, exactly as they were archived."""
    start = archived.index(_DATA) + len(_DATA)
    return archived[start:].rstrip(b"\r\n")[:-1]
