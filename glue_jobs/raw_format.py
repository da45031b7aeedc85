"""Reading the raw archive the archiver writes (``consumers.sinks.archive_layout``).

Objects are ``raw/events/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz``, gzip JSON Lines, each line
``{"arrival": <epoch s>, "seq": "<kinesis sequence>", "sub": <n>, "data": <envelope>}``
with the envelope's bytes as the line's tail. The jobs may not import ``consumers``, so
the few facts they need are restated here; ``tests/unit/lake`` checks both agree.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from auxeira.runtime.objects import ObjectStore
from schemas.resources import LAKE

__all__ = ["DATA_KEY", "RawObject", "day_of", "list_raw_objects", "payload", "read_lines"]

DATA_KEY = "data"
_DATA = b',"data":'
_DAY = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")


@dataclass(frozen=True)
class RawObject:
    key: str
    day: date


def day_of(key: str) -> date | None:
    """The arrival day (``dt=``) of a raw object's key."""
    match = _DAY.search("/" + key)
    return date.fromisoformat(match.group(1)) if match else None


def list_raw_objects(objects: ObjectStore, start: date | None = None, end: date | None = None) -> list[RawObject]:
    """Raw objects whose arrival day is in ``[start, end]`` (every day when not given), sorted."""
    if start is not None and end is not None:
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        keys: Iterator[str] = (k for d in days for k in objects.list(f"{LAKE.raw}/dt={d.isoformat()}/"))
    else:
        keys = objects.list(f"{LAKE.raw}/")
    out = []
    for key in keys:
        day = day_of(key)
        if not key.endswith(".jsonl.gz") or day is None:
            continue
        if (start is None or day >= start) and (end is None or day <= end):
            out.append(RawObject(key, day))
    return sorted(out, key=lambda o: o.key)


def read_lines(body: bytes) -> list[bytes]:
    """The lines of one raw object."""
    return [line for line in gzip.decompress(body).split(b"\n") if line]


def payload(line: bytes) -> bytes:
    """The envelope bytes of one raw line."""
    start = line.index(_DATA) + len(_DATA)
    return line[start:].rstrip(b"\r\n")[:-1]
