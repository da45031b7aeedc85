"""``auxeira replay``: re-read a window of events into projections, through the live handlers.

Why a replay is safe over any window, while the live consumers run, as often as needed:

* **idempotent**: records are applied by the projection's deployed handler
  (:meth:`Environment.handler`), so by the one ordering rule: a store keeps per item the
  change with the highest ``(version, sequence)`` and reports anything not strictly
  higher as stale. Replaying what a projection already holds changes nothing.
* **counters never double count**: a replay delivers the stream's own shard ids and
  sequence numbers (from Kinesis, or from the archive, which keeps them), and every
  counter item carries a watermark per shard (``wm#<shard>``, the last sequence number
  it counted). An UpdateItem is conditional on the watermark being below the batch's
  first record; records at or under it are dropped as a replay. So replaying into live
  counters is a no-op, and into a wiped counters table it counts each record once.
* **resumable**: progress is kept per projection and shard in the checkpoint table,
  under ``replay:{projection}:{window}`` (:mod:`auxeira.operations.replay_window`),
  written by the mapping runner only after a batch's effects are in the store, and each
  shard is read under a lease. A kill -9 loses at most the batch in flight, which the
  rerun delivers again as stale; a runner of this machine whose process is gone has its
  leases taken over at once.

Steps, in order:

1. choose the source: Kinesis while it holds the window (``describe_stream_summary``),
   else the lake's raw archive;
2. per projection, a :class:`LocalEventSourceMapping` over the windowed source with the
   projection's handler and its deployed mapping spec; when the same command already ran
   to its end (every shard of every projection finished), the window is replayed again
   from its start (its rows are reset), else each projection resumes where it stopped;
3. poll the runners round-robin until every shard of every projection is finished;
4. give the leases up and sum up, per projection: read, applied, stale, skipped,
   retried, poison, dead-lettered;
5. a replay of the stream's whole history (from before its creation, no end, nothing
   trimmed yet) that dead-lettered nothing marks each store built (a new epoch, see
   :mod:`auxeira.runtime.epochs`), which clears ``auxeira status``' reset alarm.

**The raw archive replays too** (``--projection archive``, from Kinesis only): the
archiver's handler names objects by shard and sequence range and writes only records no
object covers, so replaying a window it already holds writes nothing, and replaying one
it lost writes each record once. Replaying the lake into itself is refused.

**Erased subjects stay erased**: when the lake's erasure ledger holds anyone
(:mod:`auxeira.operations.erase_guard`), every handler is fed through the ledger's guard:
records of an erased owned item are skipped (counted as ``erased_skipped``), records of a
shared item arrive scrubbed as the erasure left the item. A cache tombstone would refuse
only the first seven days of stale writes, and a wiped store has none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from auxeira.operations.environment import ARCHIVER, Environment
from auxeira.operations.erase_guard import ErasureGuard, guarded, load_guard
from auxeira.operations.replay_runner import FiledAs, replay_clock, throttled
from auxeira.operations.replay_sources import TrackedSource, open_source
from auxeira.operations.replay_window import StreamRetention, Window, choose_source, stream_retention
from auxeira.operations.status_epochs import mark_store_built
from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.handlers import Handler
from auxeira.runtime.mapping_runner import LocalEventSourceMapping, runner_name
from auxeira.runtime.observability import BatchObserver, StatsObserver, quiet_observer
from auxeira.runtime.sinks import BatchStats
from producers.synthetic.ratelimit import TokenBucket
from schemas.resources import mapping

__all__ = [
    "ARCHIVE",
    "ProjectionSummary",
    "ReplayRequest",
    "ReplayResult",
    "projections_of",
    "refuse_archive_from_lake",
    "replay",
    "resolve_source",
]

#: The raw archive's projection name (its consumer: the archiver).
ARCHIVE = "archive"
#: The consumer (handler and mapping spec) behind each projection name.
_HANDLERS = {"cache": "cache", "search": "search", "counters": "counters", ARCHIVE: ARCHIVER}
#: What ``--projection all`` means: the projections of state (the archive is named on its own).
_ALL = ("cache", "search", "counters")


def projections_of(text: str) -> tuple[str, ...]:
    """``cache``, ``search``, ``counters``, ``archive`` or ``all`` (comma-separated names too)
    -> projection names; ``all`` is the three projections of state, not the archive.

    Raises:
        ValueError: a name that is no projection.
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return _ALL
    unknown = [n for n in names if n not in _HANDLERS]
    if unknown or not names:
        raise ValueError(f"--projection must be {', '.join(_HANDLERS)} or all, got {text!r}")
    return tuple(dict.fromkeys(names))


def refuse_archive_from_lake(projections: Sequence[str], source: str | None) -> None:
    """The archive is replayed from Kinesis only: the lake's copy of a window *is* the archive.

    Raises:
        ValueError: ``archive`` asked for with the lake as the source (asked for, or the
            only one left that holds the window).
    """
    if ARCHIVE in projections and source == "lake":
        raise ValueError(
            "--projection archive replays Kinesis into the lake's raw archive; reading the window from the lake "
            "would replay the archive into itself (if Kinesis no longer holds the window, the archive already does)"
        )


@dataclass(frozen=True)
class ReplayRequest:
    projections: tuple[str, ...]
    window: Window
    source: str | None = None  # None: whichever still holds the window
    rate: float | None = None  # records per second into each projection
    #: the lake's pii key, which the erasure ledger's hashes are keyed with (None: the local lake's)
    erasure_key: bytes | None = None


@dataclass
class ProjectionSummary:
    """What a run did for one projection (this run only; a resumed run counts what it read)."""

    projection: str
    consumer: str
    read: int = 0
    applied: int = 0
    stale: int = 0
    skipped: int = 0
    retried: int = 0
    poison: int = 0
    dead_lettered: int = 0
    resumed_shards: int = 0
    restarted: bool = False
    #: the store was marked built (a replay of the whole history into it; see ``status``)
    marked_built: bool = False
    #: records of erased subjects' items not delivered (the erasure ledger)
    erased_skipped: int = 0


@dataclass
class ReplayResult:
    source: str
    stream: str
    start: datetime
    end: datetime
    projections: list[ProjectionSummary] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def problem(self) -> bool:
        """Records were dead-lettered: the window holds records a projection refused."""
        return any(p.dead_lettered for p in self.projections)

    def as_dict(self) -> dict[str, Any]:
        return {
            "replay": "problem" if self.problem else "ok",
            "source": self.source,
            "stream": self.stream,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "projections": {p.projection: asdict(p) for p in self.projections},
            "seconds": round(self.seconds, 2),
        }


@dataclass(eq=False)
class _Run:
    """One projection's replay: its runner, its tracked source and its counts."""

    summary: ProjectionSummary
    source: TrackedSource
    runner: LocalEventSourceMapping

    def finished(self) -> bool:
        rows = self.runner.checkpoints.all(self.summary.consumer)
        return all(s.shard_id in rows and rows[s.shard_id].finished for s in self.source.shards())


Progress = Callable[[dict[str, tuple[float, ProjectionSummary]]], None]


def resolve_source(env: Environment, request: ReplayRequest, now: datetime) -> tuple[str, StreamRetention | None]:
    """(``kinesis`` or ``lake``, the stream's retention) for the request's window.

    Raises:
        ValueError: no source holds the window, or the archive would be replayed from the lake.
    """
    refuse_archive_from_lake(request.projections, request.source)
    retention = stream_retention(env.kinesis, env.stream_name, now)
    source = choose_source(request.source, request.window, retention, lake_available=True)
    refuse_archive_from_lake(request.projections, source)
    return source, retention


def replay(
    env: Environment,
    request: ReplayRequest,
    *,
    observer: BatchObserver | None = None,
    on_progress: Progress | None = None,
    owner: str | None = None,
    lease_seconds: float = 30.0,
    batch_size: int | None = None,
    idle_sleep: float = 0.2,
) -> ReplayResult:
    """Replay ``request.window`` into each projection; see the module docstring for the steps.

    Args:
        observer: sees every batch report after the summary counted it (tests stop a run here).
        on_progress: called after every pass with, per projection, (share of the window read, counts).
        owner: this runner's lease name (unique per process by default).
    """
    started = time.time()
    now = datetime.fromtimestamp(started, UTC)
    source, retention = resolve_source(env, request, now)
    end = request.window.bounded(now)
    stats = StatsObserver(then=observer or quiet_observer)
    checkpoints = env.checkpoints()
    guard = load_guard(env.objects, request.erasure_key)
    runs = [
        _start(env, p, request, source, retention, end, checkpoints, stats, owner or runner_name(), started, guard)
        for p in request.projections
    ]
    if all(run.summary.resumed_shards and run.finished() for run in runs):
        _restart(runs)
    for run in runs:
        run.runner.lease_seconds = lease_seconds
        run.runner.batch_size = batch_size
    try:
        _drive(runs, idle_sleep, on_progress)
    finally:
        for run in runs:
            run.runner.release()
    for run in runs:
        _count(run.summary, stats.totals.get(_HANDLERS[run.summary.projection], BatchStats()))
    result = ReplayResult(source, env.stream_name, request.window.start, end, [r.summary for r in runs])
    if source == "kinesis" and retention is not None and retention.whole_history(request.window):
        for summary in result.projections:
            summary.marked_built = not summary.dead_lettered and _mark_built(env, summary.projection)
    result.seconds = time.time() - started
    return result


def _start(
    env: Environment,
    projection: str,
    request: ReplayRequest,
    source_name: str,
    retention: StreamRetention | None,
    end: datetime,
    checkpoints: Checkpoints,
    stats: StatsObserver,
    owner: str,
    started: float,
    guard: ErasureGuard | None = None,
) -> _Run:
    consumer = request.window.consumer(projection)
    summary = ProjectionSummary(projection, consumer)
    source = TrackedSource(
        open_source(env, source_name, request.window.start, end, retention),
        request.window.start.timestamp(),
        end.timestamp(),
    )
    rows = checkpoints.all(consumer)
    summary.resumed_shards = sum(1 for r in rows.values() if r.sequence_number or r.finished)
    source.finished.update(shard for shard, r in rows.items() if r.finished)
    name = _HANDLERS[projection]
    clock = replay_clock(request.window.start.timestamp(), started)
    # The handler gives a failing record up by its age too: on the replay's clock, not the wall's.
    handler: Handler = env.handler(name, stats, clock=clock)
    if guard is not None:
        handler = guarded(handler, guard, on_skip=lambda n: _add_skipped(summary, n))
    if request.rate:
        handler = throttled(handler, TokenBucket(request.rate, burst=max(1.0, request.rate / 10)))
    runner = LocalEventSourceMapping(
        source=source,
        handler=handler,
        checkpoints=checkpoints,
        consumer=consumer,
        spec=mapping(name),
        failures=FiledAs(env.objects, name),
        owner=owner,
        clock=clock,
    )
    return _Run(summary, source, runner)


def _add_skipped(summary: ProjectionSummary, n: int) -> None:
    summary.erased_skipped += n


def _restart(runs: Sequence[_Run]) -> None:
    """The whole command ran to its end before: this run replays the window again from its start.

    Only when every projection asked for is finished; otherwise a rerun after a kill resumes
    the unfinished ones and leaves the finished ones be.
    """
    for run in runs:
        run.runner.checkpoints.reset(run.summary.consumer)
        run.summary.resumed_shards, run.summary.restarted = 0, True
        run.source.finished.clear()


def _mark_built(env: Environment, store: str) -> bool:
    """Record that ``store`` holds a complete build again (clears ``status``' reset alarm).

    Only a store that keeps an epoch marker can be marked (every deployed sink does; the
    archive keeps none).
    """
    if store == ARCHIVE:
        return False
    if not hasattr(env.sink(store), "write_epoch"):
        return False
    mark_store_built(env, store, by="replay")
    return True


def _drive(runs: Sequence[_Run], idle_sleep: float, on_progress: Progress | None) -> None:
    """Poll every runner until each has finished every shard of its window."""
    pending = list(runs)
    while pending:
        moved = 0
        for run in pending:
            polled = run.runner.poll()
            run.summary.read += polled.records
            run.summary.dead_lettered += polled.discarded
            moved += polled.records + polled.failed_batches
        if on_progress is not None:
            on_progress(
                {r.summary.projection: (1.0 if r not in pending else r.source.fraction(), r.summary) for r in runs}
            )
        if moved == 0:
            pending = [r for r in pending if not r.finished()]
            if pending:
                time.sleep(idle_sleep)
    if on_progress is not None:
        on_progress({r.summary.projection: (1.0, r.summary) for r in runs})


def _count(summary: ProjectionSummary, stats: BatchStats) -> None:
    summary.applied, summary.stale, summary.skipped = stats.applied, stats.stale, stats.skipped
    summary.retried, summary.poison = stats.retried, stats.poison
    summary.dead_lettered += stats.dead_lettered
