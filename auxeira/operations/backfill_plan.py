"""``auxeira backfill --dry-run``: the plan of a backfill, counted with ``Select=COUNT``, emitting nothing.

Per table: its physical name, the segment count, and per segment where the scan would
start (from the beginning, after the saved key of an unfinished run, or nothing left)
and how many items it would read from there, counted by a parallel ``Select=COUNT``
scan (which reads the table as a Scan does, but returns no items). Nothing is written:
no lease, no progress, no event.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from auxeira.operations.backfill import check_segments, starts_over
from auxeira.operations.backfill_progress import SegmentLedger, SegmentProgress
from auxeira.operations.environment import Environment
from schemas.tables import TableSpec

__all__ = ["SegmentPlan", "TablePlan", "plan_backfill"]

NOTES = (
    "every item becomes {entity}.snapshot at order (version, 0): a projection keeps any streamed change "
    "of the same or a newer version; the counters skip snapshots",
    "the live consumers apply the snapshots: they must be running (auxeira status)",
    "items the router would refuse are counted with their reasons, not emitted",
)


@dataclass
class SegmentPlan:
    segment: int
    start: str
    items: int


@dataclass
class TablePlan:
    table: str
    segments: int
    items: int = 0
    restart: bool = False
    per_segment: list[SegmentPlan] = field(default_factory=list)


def plan_backfill(env: Environment, tables: tuple[TableSpec, ...], segments: int) -> dict[str, Any]:
    """The plan of a backfill of ``tables`` in ``segments`` segments, as one JSON-able document."""
    fresh = starts_over(env, tables, segments)
    plans = [_table(env, spec, segments, fresh) for spec in tables]
    return {
        "plan": "backfill",
        "stream": env.stream_name,
        "tables": [asdict(p) for p in plans],
        "items": sum(p.items for p in plans),
        "notes": list(NOTES),
    }


def _table(env: Environment, spec: TableSpec, segments: int, fresh: bool) -> TablePlan:
    name = env.table_name(spec)
    rows = SegmentLedger(env.checkpoints(), name).all()
    restart = fresh and bool(rows)
    if rows and not fresh:
        check_segments(name, rows, segments)
    starts = [
        SegmentProgress(i, segments) if restart else rows.get(i, SegmentProgress(i, segments)) for i in range(segments)
    ]
    with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="backfill-count") as pool:
        counted = list(pool.map(lambda p: _segment(env, name, p), starts))
    return TablePlan(name, segments, sum(c.items for c in counted), restart, counted)


def _segment(env: Environment, table: str, progress: SegmentProgress) -> SegmentPlan:
    if progress.finished:
        return SegmentPlan(progress.segment, "finished", 0)
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Select": "COUNT",
        "Segment": progress.segment,
        "TotalSegments": progress.total,
    }
    start = "from the start"
    if progress.last_key is not None:
        kwargs["ExclusiveStartKey"] = progress.last_key
        start = "after " + " ".join(f"{k}={next(iter(v.values()))}" for k, v in sorted(progress.last_key.items()))
    items = 0
    while True:
        page = env.dynamodb.scan(**kwargs)
        items += int(page.get("Count", 0))
        if "LastEvaluatedKey" not in page:
            return SegmentPlan(progress.segment, start, items)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
