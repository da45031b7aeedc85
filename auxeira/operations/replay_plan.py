"""``auxeira replay --dry-run``: the exact plan of a replay, read from its source, changing nothing.

The plan reads the window once (the same windowed source the replay would read) and
says: the source and why, the stream's retention, every shard with its first and last
sequence number in the window and where reading starts (``AT_TIMESTAMP``), or the
archive objects; then per projection where its replay starts on each shard (a resumed
replay continues after its checkpoint) and how many records, by event type, it would
deliver. Whether each is applied or stale is the store's decision when it arrives.
Nothing is written: no checkpoint, no lease, no store.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from auxeira.operations.environment import Environment
from auxeira.operations.replay import ReplayRequest, resolve_source
from auxeira.operations.replay_sources import TrackedSource, object_keys, open_source
from auxeira.runtime.bus import envelopes_of
from auxeira.runtime.checkpoints import Checkpoint
from schemas.errors import PipelineError

__all__ = ["ProjectionPlan", "ReplayPlan", "ShardPlan", "plan"]

COUNTERS_NOTE = (
    "counters: each counter item keeps a watermark per shard (the last sequence number it counted), and the "
    "replay delivers the same shards and sequence numbers, so records already counted are skipped: a no-op on "
    "live counters. Into a wiped counters table it restores them only if the window starts before the first "
    "event and the live counters consumer is stopped meanwhile (a record it counts first moves the watermark "
    "past the older ones); otherwise repair them by recount (auxeira verify --projection counters --repair)."
)
STALE_NOTE = "each store decides applied or stale on arrival: an item it holds at the same or a newer order is kept."


@dataclass
class ShardPlan:
    shard_id: str
    parents: tuple[str, ...]
    start: str
    first_sequence: str | None = None
    last_sequence: str | None = None
    records: int = 0


@dataclass
class ProjectionPlan:
    projection: str
    consumer: str
    #: shard -> where this projection's replay starts reading it
    positions: dict[str, str] = field(default_factory=dict)
    records: int = 0
    event_types: dict[str, int] = field(default_factory=dict)
    restart: bool = False


@dataclass
class ReplayPlan:
    source: str
    stream: str
    retention_hours: int | None
    oldest_kept: datetime | None
    start: datetime
    end: datetime
    shards: list[ShardPlan] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    projections: list[ProjectionPlan] = field(default_factory=list)
    records: int = 0
    undecodable: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"plan": "replay", **asdict(self)}


def plan(env: Environment, request: ReplayRequest, *, on_progress: Callable[[float], None] | None = None) -> ReplayPlan:
    """The plan of ``request``: the window read once, nothing written."""
    now = datetime.now(UTC)
    source_name, retention = resolve_source(env, request, now)
    end = request.window.bounded(now)
    inner = open_source(env, source_name, request.window.start, end, retention)
    source = TrackedSource(inner, request.window.start.timestamp(), end.timestamp())
    result = ReplayPlan(
        source_name,
        env.stream_name,
        retention.hours if retention else None,
        retention.oldest_kept if retention else None,
        request.window.start,
        end,
        objects=object_keys(inner),
    )
    shards = source.shards()
    checkpoints = env.checkpoints()
    ids = [s.shard_id for s in shards]
    rows = {p: checkpoints.all(request.window.consumer(p)) for p in request.projections}
    # As the replay decides: a command that ran to its end before replays again from the start.
    restart = all(r and all(s in r and r[s].finished for s in ids) for r in rows.values())
    afters: list[dict[str, int | None]] = []
    for projection in request.projections:
        consumer = request.window.consumer(projection)
        projected, after = _positions(projection, consumer, {} if restart else rows[projection], ids)
        projected.restart = restart
        projected.positions = {s.shard_id: _position_text(source_name, request, after[s.shard_id]) for s in shards}
        result.projections.append(projected)
        afters.append(after)
    start_text = _position_text(source_name, request, -1)
    for shard in shards:
        shard_plan = ShardPlan(shard.shard_id, shard.parent_ids, start_text)
        result.shards.append(shard_plan)
        _read_shard(source, shard_plan, result, afters, on_progress)
    result.notes = _notes(request, result)
    return result


def _positions(
    projection: str, consumer: str, rows: dict[str, Checkpoint], shards: list[str]
) -> tuple[ProjectionPlan, dict[str, int | None]]:
    """The projection's plan and, per shard, the last sequence already replayed (-1: from the start, None: done)."""
    after: dict[str, int | None] = {}
    for shard in shards:
        row = rows.get(shard)
        if row is not None and row.finished:
            after[shard] = None
        else:
            after[shard] = int(row.sequence_number) if row is not None and row.sequence_number else -1
    return ProjectionPlan(projection, consumer), after


def _position_text(source: str, request: ReplayRequest, after: int | None) -> str:
    if after is None:
        return "finished"
    if after >= 0:
        return f"AFTER_SEQUENCE_NUMBER {after}" if source == "kinesis" else f"after sequence number {after}"
    at = request.window.start.isoformat(timespec="milliseconds")
    return f"AT_TIMESTAMP {at}" if source == "kinesis" else f"archive from {at}"


def _read_shard(
    source: TrackedSource,
    shard: ShardPlan,
    result: ReplayPlan,
    afters: list[dict[str, int | None]],
    on_progress: Callable[[float], None] | None,
) -> None:
    """Read one shard's window to its end, counting per projection what it would be sent."""
    iterator: str | None = source.iterator(shard.shard_id, None)
    counts = [Counter[str]() for _ in afters]
    while iterator is not None:
        page = source.read(shard.shard_id, iterator, 1000)
        iterator = page.next_iterator
        if not page.records and iterator is not None:
            time.sleep(0.2)  # at the tip, waiting out the window's end: GetRecords allows 5 calls/s per shard
        for record in page.records:
            sequence = str(record["kinesis"]["sequenceNumber"])
            shard.first_sequence = shard.first_sequence or sequence
            shard.last_sequence = sequence
            shard.records += 1
            result.records += 1
            types = _event_types(record, result)
            for after, count in zip(afters, counts):
                done = after[shard.shard_id]
                if done is not None and int(sequence) > done:
                    count.update(types)
                    count["\x00records"] += 1
        if on_progress is not None:
            on_progress(source.fraction())
    for projected, count in zip(result.projections, counts):
        projected.records += count.pop("\x00records", 0)
        for event_type, n in count.items():
            projected.event_types[event_type] = projected.event_types.get(event_type, 0) + n


def _event_types(record: dict[str, Any], result: ReplayPlan) -> list[str]:
    try:
        return [e.event_type for e in envelopes_of(base64.b64decode(record["kinesis"]["data"]))]
    except (PipelineError, ValueError):
        result.undecodable += 1
        return ["(undecodable: dead-lettered)"]


def _notes(request: ReplayRequest, result: ReplayPlan) -> list[str]:
    notes = [STALE_NOTE]
    if result.source == "lake":
        notes.insert(0, "the window is read from the lake's raw archive (the stream no longer holds all of it)")
    if "counters" in request.projections:
        notes.append(COUNTERS_NOTE)
    if result.records == 0:
        notes.append("nothing reached the stream in this window")
    return notes
