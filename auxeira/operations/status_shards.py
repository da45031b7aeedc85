"""How far one consumer's checkpoint of one shard is from the shard's tip.

The local runner and the on-call replay keep their positions in the checkpoint table;
this reads the stream from there, the way the consumer will:

1. ``GetRecords`` after the checkpoint (``TRIM_HORIZON`` without one): the first page's
   ``MillisBehindLatest`` is how far behind the tip the consumer reads (Kinesis reports
   it; DynamoDB Streams do not), and its first record is the oldest one still to be
   processed: the one that leaves the stream first;
2. further pages count the records behind, up to a cap (shown as ``>= cap``): counting
   a backlog of millions would read it all;
3. ``GetRecords`` at the checkpoint itself gives the arrival time of the newest record
   applied.

A finished shard (a closed parent read to its end) has nothing behind. A shard the
stream no longer lists was trimmed away with its records.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from auxeira.runtime.batch import record_time
from auxeira.runtime.checkpoints import Checkpoint
from auxeira.runtime.shard_sources import DynamoStreamSource, KinesisSource, ShardSource

__all__ = ["RECORDS_CAP", "ShardLag", "probe_shard"]

#: Records counted behind a checkpoint before the count stops (``>= 1000``).
RECORDS_CAP = 1000
#: GetRecords calls one shard's count may make (Kinesis may answer empty pages before the tip).
_MAX_READS = 25


@dataclass(frozen=True)
class ShardLag:
    """One shard as one consumer stands on it.

    Attributes:
        records_behind: records after the checkpoint, counted up to the cap (``capped``).
        millis_behind: the stream's ``MillisBehindLatest`` read from the checkpoint (Kinesis only).
        oldest_unprocessed_at: arrival (epoch seconds) of the first record after the checkpoint.
        newest_applied_at: arrival of the checkpoint's own record (the newest applied).
        listed: the stream still lists the shard.
    """

    shard_id: str
    parent_ids: tuple[str, ...] = ()
    checkpoint: str | None = None
    finished: bool = False
    owner: str | None = None
    lease_until_ms: int | None = None
    records_behind: int = 0
    capped: bool = False
    millis_behind: int | None = None
    oldest_unprocessed_at: float | None = None
    newest_applied_at: float | None = None
    listed: bool = True
    error: str | None = None

    def lease_live(self, now: float) -> bool:
        return self.owner is not None and (self.lease_until_ms or 0) >= now * 1000

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "shard": self.shard_id,
            "parents": list(self.parent_ids),
            "checkpoint": self.checkpoint,
            "finished": self.finished,
            "owner": self.owner if self.lease_live(now) else None,
            "records_behind": self.records_behind,
            "records_behind_capped": self.capped,
            "millis_behind_latest": self.millis_behind,
            "oldest_unprocessed_at": self.oldest_unprocessed_at,
            "newest_applied_at": self.newest_applied_at,
            "listed": self.listed,
            "error": self.error,
        }


def probe_shard(
    source: ShardSource, shard_id: str, parents: tuple[str, ...], checkpoint: Checkpoint | None, cap: int = RECORDS_CAP
) -> ShardLag:
    """Where ``checkpoint`` stands on ``shard_id`` (see the module docstring)."""
    base = ShardLag(
        shard_id,
        parents,
        checkpoint.sequence_number if checkpoint else None,
        bool(checkpoint and checkpoint.finished),
        checkpoint.owner if checkpoint else None,
        checkpoint.lease_until_ms if checkpoint else None,
    )
    if base.finished:
        return base
    try:
        counted, capped, millis, oldest = _count_behind(source, shard_id, base.checkpoint, cap)
        newest = _arrival_at(source, shard_id, base.checkpoint) if base.checkpoint else None
    except Exception as exc:  # noqa: BLE001 - one unreadable shard is shown, not fatal to the status
        return replace(base, error=f"{type(exc).__name__}: {exc}")
    return replace(
        base,
        records_behind=counted,
        capped=capped,
        millis_behind=millis,
        oldest_unprocessed_at=oldest,
        newest_applied_at=newest,
    )


def _count_behind(
    source: ShardSource, shard_id: str, after: str | None, cap: int
) -> tuple[int, bool, int | None, float | None]:
    """(records behind up to ``cap``, capped, MillisBehindLatest of the first page, oldest arrival)."""
    iterator: str | None = source.iterator(shard_id, after)
    counted, millis, oldest = 0, None, None
    for read in range(_MAX_READS):
        if iterator is None or counted >= cap:
            break
        page = source.read(shard_id, iterator, min(_page_limit(source), cap - counted))
        if read == 0:
            millis = page.millis_behind
        if page.records and oldest is None:
            oldest = record_time(page.records[0])
        counted += len(page.records)
        iterator = page.next_iterator
        if not page.records and not page.millis_behind:
            break  # at the tip
    return min(counted, cap), counted >= cap, millis, oldest


def _arrival_at(source: ShardSource, shard_id: str, sequence: str) -> float | None:
    """Arrival time of the record at ``sequence`` (None once the stream has trimmed it)."""
    iterator = _at_sequence(source, shard_id, sequence)
    page = source.read(shard_id, iterator, 1)
    return record_time(page.records[0]) if page.records else None


def _at_sequence(source: ShardSource, shard_id: str, sequence: str) -> str:
    if isinstance(source, KinesisSource):
        return str(
            source.client.get_shard_iterator(
                StreamName=source.stream_name,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                StartingSequenceNumber=sequence,
            )["ShardIterator"]
        )
    if isinstance(source, DynamoStreamSource):
        return str(
            source.client.get_shard_iterator(
                StreamArn=source.arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=sequence
            )["ShardIterator"]
        )
    raise TypeError(f"no AT_SEQUENCE_NUMBER reader for {type(source).__name__}")


def _page_limit(source: ShardSource) -> int:
    # GetRecords' own limits: 10,000 records on Kinesis, 1,000 on DynamoDB Streams.
    return 1000 if isinstance(source, DynamoStreamSource) else 10_000
