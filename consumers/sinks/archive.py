"""The raw archive sink: Kinesis records to gzip JSON Lines objects, exactly once.

Why names alone are not enough
------------------------------
Kafka Connect's S3 sink gets exactly-once from deterministic names: a rewrite of the same
batch writes the same key. That holds only while every delivery cuts the stream at the
same places. Lambda does not promise that: after a partial failure it redelivers from
the lowest failed record, a replay starts wherever the operator says, and a smaller
``BatchSize`` or a batching window cuts elsewhere. A name-only scheme would then write
``[10..20]`` next to an earlier ``[5..15]`` and hold records 10-15 twice.

The rule
--------
The objects of one shard and arrival hour never overlap (see
:mod:`consumers.sinks.archive_layout`). Per (stream, shard, hour) of a batch, in this
order:

1. list the objects already in that hour's folder for that shard and read their
   sequence ranges from their names;
2. a record whose sequence number some range covers is already archived: STALE;
3. the other records, cut into runs of neighbours in the batch (a covered record
   between two ends a run), are each written as one object named after the run's first
   and last sequence numbers: APPLIED.

It relies on two facts: a batch holds *every* record of its shard between its first
and last (the archiver's mapping reads each shard in order, ``ParallelizationFactor``
1, see :mod:`schemas.resources`), and one shard is written by one invocation at a time
(Lambda's per-shard concurrency; the local runner's lease). A crash after a put and
before the checkpoint redelivers the batch, whose records are then covered. S3 lists
are strongly consistent (since December 2020), so step 1 sees every earlier put.

A put that fails makes its records, and every later record of its shard in the batch,
a :class:`~schemas.errors.RetryableSinkError`: the redelivery starts at the lowest of
them, so the runs stay contiguous.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auxeira.runtime.objects import ObjectStore
from auxeira.runtime.sinks import APPLIED, STALE, ItemOutcome
from consumers.sinks.archive_layout import ObjectRange, hour_prefix, object_name, parse_object_name, safe
from schemas.errors import RetryableSinkError

__all__ = ["ArchiveSink", "RawRecord"]

CONTENT_TYPE = "application/gzip"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One Kinesis record to archive: its position, arrival time and archive lines."""

    stream: str
    shard: str
    sequence: str
    arrival: float
    lines: tuple[bytes, ...]

    @property
    def folder(self) -> str:
        return hour_prefix(self.arrival)


class ArchiveSink:
    """Writes batches of :class:`RawRecord` to an object store (the lake root)."""

    def __init__(self, objects: ObjectStore):
        self.objects = objects

    def apply(self, items: Sequence[RawRecord]) -> list[ItemOutcome]:
        """One outcome per record: APPLIED (written now), STALE (already archived) or a
        retryable error (see the module docstring for the order of the steps)."""
        outcomes: list[ItemOutcome | None] = [None] * len(items)
        failed: dict[tuple[str, str], RetryableSinkError] = {}
        for (stream, shard, folder), indexes in _groups(items).items():
            error = failed.get((stream, shard))
            if error is None:
                try:
                    self._archive(items, indexes, folder, outcomes)
                    continue
                except Exception as exc:  # noqa: BLE001 - a store error of any kind: deliver again
                    error = RetryableSinkError(f"archive put failed in {folder}: {type(exc).__name__}: {exc}")
                    failed[(stream, shard)] = error
            for i in indexes:
                if outcomes[i] is None:
                    outcomes[i] = error
        return [o if o is not None else RetryableSinkError("not archived") for o in outcomes]

    def _archive(self, items: Sequence[RawRecord], indexes: list[int], folder: str, out: list[Any]) -> None:
        first = items[indexes[0]]
        ranges = self._ranges(folder, first.stream, first.shard)
        run: list[int] = []
        for i in indexes:
            if any(r.covers(int(items[i].sequence)) for r in ranges):
                self._write(items, run, folder, out)
                run = []
                out[i] = STALE
            else:
                run.append(i)
        self._write(items, run, folder, out)

    def _ranges(self, folder: str, stream: str, shard: str) -> list[ObjectRange]:
        found = (parse_object_name(key) for key in self.objects.list(folder))
        return [r for r in found if r is not None and r.stream == safe(stream) and r.shard == safe(shard)]

    def _write(self, items: Sequence[RawRecord], run: list[int], folder: str, out: list[Any]) -> None:
        if not run:
            return
        head, tail = items[run[0]], items[run[-1]]
        body = b"".join(line + b"\n" for i in run for line in items[i].lines)
        name = object_name(head.stream, head.shard, head.sequence, tail.sequence)
        self.objects.put(folder + name, gzip.compress(body, compresslevel=6, mtime=0), content_type=CONTENT_TYPE)
        for i in run:
            out[i] = APPLIED


def _groups(items: Sequence[RawRecord]) -> dict[tuple[str, str, str], list[int]]:
    """Item indexes per (stream, shard, hour folder), each in sequence order."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault((item.stream, item.shard, item.folder), []).append(i)
    for indexes in groups.values():
        indexes.sort(key=lambda i: int(items[i].sequence))
    return groups
