"""``auxeira backfill``: a parallel Scan of a table, emitted as snapshot events on the normal path.

What it is for: filling a new projection, or rebuilding one whose stream fell past
retention (or whose store was wiped). Every item becomes ``{entity}.snapshot`` by the
stream router's own rules (:func:`producers.stream_router.snapshot_envelope`: same keys,
same secret removal, same id checks) and is put on the events stream (:func:`emit`), so
the live consumers apply it like any other event.

Why it is safe while live traffic flows: a snapshot's order is ``(version, 0)``, below
every streamed change of that version, and every projection keeps only what is strictly
higher. A snapshot read before a concurrent write is therefore ignored wherever the
write's own event got first, and overwritten by it wherever the snapshot got first;
a deleted item's tombstone outranks a snapshot read before the delete. The counters
skip snapshots altogether (a snapshot is not a change).

Steps per segment (``Segment``/``TotalSegments``, one thread each), in this order:

1. take the segment's lease and read its progress (:mod:`auxeira.operations.backfill_progress`);
2. scan one page from the saved ``LastEvaluatedKey``;
3. turn its items into snapshots; an item the router would refuse (or one over Kinesis'
   1 MiB record limit) is counted with its reason, never emitted;
4. put the snapshots on the stream; if some could not be put, stop the segment without
   saving, so the rerun emits that page again;
5. save the page's ``LastEvaluatedKey`` (``finished`` after the last page) and go to 2.

A rerun resumes each unfinished segment and skips the tables the killed run finished;
once every segment of every table of the run is finished, the next run starts a new
backfill (a projection added later needs one). A complete backfill of every
source table marks the cache and the search index built (a new epoch, see
:mod:`auxeira.runtime.epochs`), which clears ``auxeira status``' reset alarm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from auxeira.operations.backfill_progress import SegmentLedger, SegmentProgress
from auxeira.operations.emit import EmitResult, emit
from auxeira.operations.environment import Environment
from auxeira.operations.status_epochs import mark_store_built
from auxeira.runtime.mapping_runner import runner_name
from producers.kinesis_writer import MAX_RECORD_BYTES, OutgoingRecord, record_size
from producers.stream_router import snapshot_envelope
from producers.synthetic.ratelimit import TokenBucket
from schemas import catalog
from schemas.envelope import Envelope, encode, partition_key
from schemas.tables import TableSpec

__all__ = [
    "FIRST_REASONS",
    "BackfillResult",
    "TableBackfill",
    "backfill",
    "check_segments",
    "starts_over",
    "tables_of",
]

#: The stores a backfill rebuilds (the counters skip snapshots: a snapshot is not a change).
SNAPSHOT_STORES = ("cache", "search")
#: How many refused items (key and reason) a result keeps; the count covers them all.
FIRST_REASONS = 10

Emitter = Callable[[Environment, Sequence[Envelope]], EmitResult]
Progress = Callable[[str, int], None]  # (physical table, items scanned since the last call)


def tables_of(env: Environment, text: str) -> tuple[TableSpec, ...]:
    """``all``, a logical name (``startups``) or a physical one (``auxeira-startups-prod``) -> specs.

    Raises:
        ValueError: no such table, or a logical name two designs share (give the physical one).
    """
    if text.strip() == "all":
        return catalog.TABLES
    found = [s for s in catalog.TABLES if text.strip() in (s.name, env.table_name(s))]
    if len(found) == 1:
        return (found[0],)
    if found:
        names = " or ".join(env.table_name(s) for s in found)
        raise ValueError(f"--table {text!r} is ambiguous: give the physical name, {names}")
    raise ValueError(f"no table {text!r}; give a name such as startups, auxeira-startups-{env.name}, or all")


@dataclass
class TableBackfill:
    """What one run did to one table (``scanned``...: this run; ``*_total``: every run of this backfill)."""

    table: str
    segments: int
    scanned: int = 0
    emitted: int = 0
    refused: int = 0
    refusals: list[tuple[str, str]] = field(default_factory=list)
    not_put: int = 0
    put_failures: list[tuple[str, str]] = field(default_factory=list)
    busy_segments: list[int] = field(default_factory=list)
    resumed_segments: int = 0
    restarted: bool = False
    finished: bool = False
    scanned_total: int = 0
    emitted_total: int = 0

    @property
    def problem(self) -> bool:
        return bool(self.refused or self.not_put or self.busy_segments)


@dataclass
class BackfillResult:
    tables: list[TableBackfill] = field(default_factory=list)
    #: stores marked built: a complete backfill of every source table (see ``status``)
    marked_built: list[str] = field(default_factory=list)
    #: store -> why it could not be marked (unreachable from here: mark it by a rerun)
    not_marked: dict[str, str] = field(default_factory=dict)

    @property
    def problem(self) -> bool:
        return any(t.problem for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {"backfill": "problem" if self.problem else "ok", "tables": [asdict(t) for t in self.tables]}


def check_segments(table: str, rows: dict[int, SegmentProgress], segments: int) -> bool:
    """Whether the saved progress is to be forgotten (every segment finished: a new backfill).

    Raises:
        ValueError: an unfinished backfill of this table was started with another segment count.
    """
    if not rows:
        return False
    if all(r.finished for r in rows.values()) and {r.total for r in rows.values()} == {len(rows)}:
        return True
    totals = {r.total for r in rows.values()}
    if totals != {segments}:
        done = sum(1 for r in rows.values() if r.finished)
        raise ValueError(
            f"an unfinished backfill of {table} uses {'/'.join(map(str, sorted(totals)))} segments "
            f"({done} finished): rerun it with --segments {max(totals)}"
        )
    return False


def starts_over(env: Environment, tables: Sequence[TableSpec], segments: int) -> bool:
    """Whether a backfill of ``tables`` is a new one (True) or resumes an unfinished one (False).

    The rule is the run's, not each table's: a backfill of several tables killed after it
    finished some of them resumes with the rest, and the finished ones are not scanned again;
    only when every table of the run was finished (or none was started) does it start over.

    Raises:
        ValueError: an unfinished backfill of a table was started with another segment count.
    """
    checkpoints = env.checkpoints()
    progress = [(env.table_name(t), SegmentLedger(checkpoints, env.table_name(t)).all()) for t in tables]
    return all(not rows or check_segments(name, rows, segments) for name, rows in progress)


def backfill(
    env: Environment,
    tables: Sequence[TableSpec],
    *,
    segments: int = 4,
    rate: float | None = None,
    emitter: Emitter = emit,
    owner: str | None = None,
    lease_seconds: float = 30.0,
    page_size: int = 500,
    on_progress: Progress | None = None,
) -> BackfillResult:
    """Backfill each table in turn; see the module docstring for the steps.

    Args:
        rate: snapshots per second for the whole run (every segment shares it), so a
            backfill leaves the stream's write capacity to the live router.
        emitter: puts envelopes on the stream (:func:`emit`; tests inject their own).
    """
    if not 1 <= segments <= 1000:
        raise ValueError(f"--segments must be 1..1000, got {segments}")
    bucket = TokenBucket(rate, burst=max(1.0, rate / 10)) if rate else None
    run = _Run(env, segments, bucket, emitter, owner or runner_name(), lease_seconds, page_size, on_progress)
    fresh = starts_over(env, tables, segments)
    result = BackfillResult([run.table(spec, fresh) for spec in tables])
    every_table = {env.table_name(t) for t in env.registry.source_tables} <= {env.table_name(t) for t in tables}
    if every_table and not result.problem and all(t.finished for t in result.tables):
        for store in SNAPSHOT_STORES:
            _mark_built(env, store, result)
    return result


@dataclass
class _Run:
    env: Environment
    segments: int
    bucket: TokenBucket | None
    emitter: Emitter
    owner: str
    lease_seconds: float
    page_size: int
    on_progress: Progress | None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def table(self, spec: TableSpec, fresh: bool) -> TableBackfill:
        """Backfill one table; ``fresh``: the run starts over (see :func:`starts_over`), so
        a table finished before is forgotten and scanned again, else its rows resume."""
        name = self.env.table_name(spec)
        ledger = SegmentLedger(self.env.checkpoints(), name)
        rows = ledger.all()
        result = TableBackfill(name, self.segments)
        if fresh and rows:
            ledger.reset()
            rows, result.restarted = {}, True
        elif rows:
            check_segments(name, rows, self.segments)  # the same segment count, or a clear error
        starts = [rows.get(i) or SegmentProgress(i, self.segments) for i in range(self.segments)]
        with ThreadPoolExecutor(max_workers=self.segments, thread_name_prefix="backfill") as pool:
            done = list(pool.map(lambda start: self._segment(ledger, start, result), starts))
        result.finished = all(p is not None and p.finished for p in done)
        result.scanned_total = sum(p.scanned for p in done if p is not None)
        result.emitted_total = sum(p.emitted for p in done if p is not None)
        return result

    def _segment(
        self, ledger: SegmentLedger, progress: SegmentProgress, result: TableBackfill
    ) -> SegmentProgress | None:
        """Steps 1-5 of the module docstring for one segment; its last saved progress (None: busy)."""
        i, n = progress.segment, progress.total
        if not ledger.claim(i, n, self.owner, self.lease_seconds):
            with self._lock:
                result.busy_segments.append(i)
            return None
        try:
            if progress.last_key is not None and not progress.finished:
                with self._lock:
                    result.resumed_segments += 1
            while not progress.finished:
                saved = self._page(ledger, progress, result)
                if saved is None:
                    break
                progress = saved
            return progress
        finally:
            ledger.release(i, n, self.owner)

    def _page(self, ledger: SegmentLedger, progress: SegmentProgress, result: TableBackfill) -> SegmentProgress | None:
        kwargs: dict[str, Any] = {
            "TableName": result.table,
            "Segment": progress.segment,
            "TotalSegments": progress.total,
            "Limit": self.page_size,
        }
        if progress.last_key is not None:
            kwargs["ExclusiveStartKey"] = progress.last_key
        page = self.env.dynamodb.scan(**kwargs)
        items = page.get("Items", [])
        envelopes, refused = _snapshots(result.table, items)
        if self.bucket is not None:
            for _ in envelopes:
                self.bucket.acquire()
        put = self.emitter(self.env, envelopes) if envelopes else EmitResult()
        with self._lock:
            result.refused += len(refused)
            result.refusals += refused[: max(0, FIRST_REASONS - len(result.refusals))]
            if put.failed:
                result.not_put += len(put.failed)
                result.put_failures += put.failed[: max(0, FIRST_REASONS - len(result.put_failures))]
                return None
        last = page.get("LastEvaluatedKey")
        saved = SegmentProgress(
            progress.segment,
            progress.total,
            last,
            last is None,
            progress.scanned + len(items),
            progress.emitted + put.put,
            progress.refused + len(refused),
        )
        ledger.save(saved, self.owner, self.lease_seconds)
        with self._lock:
            result.scanned += len(items)
            result.emitted += put.put
        if self.on_progress is not None:
            self.on_progress(result.table, len(items))
        return saved


def _mark_built(env: Environment, store: str, result: BackfillResult) -> None:
    """Record that ``store`` holds a complete build again (clears ``status``' reset alarm).

    The snapshots are on the stream, and the store's consumer applies them in stream
    order after any epoch check, so the mark is safe to write now. A store this machine
    cannot reach is reported, not a failure of the backfill.
    """
    try:
        if hasattr(env.sink(store), "write_epoch"):
            mark_store_built(env, store, by="backfill")
            result.marked_built.append(store)
    except Exception as exc:  # noqa: BLE001 - the backfill itself succeeded; say why the mark did not
        result.not_marked[store] = f"{type(exc).__name__}: {exc}"


def _snapshots(table: str, items: list[dict[str, Any]]) -> tuple[list[Envelope], list[tuple[str, str]]]:
    """(snapshot envelopes, (key, reason) of every item refused) for a page of scanned items."""
    spec, _ = catalog.resolve(table)
    envelopes: list[Envelope] = []
    refused: list[tuple[str, str]] = []
    for item in items:
        try:
            envelope = snapshot_envelope(table, item)
            size = record_size(OutgoingRecord(encode(envelope), partition_key(envelope)))
        except Exception as exc:  # noqa: BLE001 - whatever the router would refuse, this item's own problem
            refused.append((_key_text(spec, item), f"{type(exc).__name__}: {exc}"))
            continue
        if size > MAX_RECORD_BYTES:
            refused.append((_key_text(spec, item), f"{size} bytes, over Kinesis' 1 MiB record limit"))
            continue
        envelopes.append(envelope)
    return envelopes, refused


def _key_text(spec: TableSpec, item: dict[str, Any]) -> str:
    """``PK=STARTUP#s1 SK=PROFILE``: an item's key as an operator searches for it."""
    parts = []
    for attr in spec.key_attrs:
        value = item.get(attr, {})
        parts.append(f"{attr}={next(iter(value.values()), '?') if isinstance(value, dict) else value}")
    return " ".join(parts)
