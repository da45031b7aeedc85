"""Runs the generator's units: table writes through the repository, events through the
publisher, at a bounded rate, on a small thread pool, reporting progress.

Steps, in this order:

1. run the phases one after the other (a phase's units concurrently, each unit's ops in
   order on one thread);
2. before each op take a token from the rate limiter (a write or an event is one token);
3. apply it; a :class:`~schemas.errors.PipelineError` or an AWS client error is that
   op's outcome (``failed``), never the end of the run: neighbours carry on;
4. flush the publisher; events it finally failed to send count as ``failed``.

Threads: each worker gets its own repository from the factory (a boto3 client per
thread; DynamoDB Local serves ~500 writes/s from one thread, ~790/s from four). The
publisher is shared (it is thread-safe).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from producers.repository import Repository
from producers.synthetic.ops import Create, Op, Publish, Unit, Update
from producers.synthetic.ratelimit import TokenBucket
from schemas.errors import PipelineError

__all__ = ["MAX_ERRORS", "EventSink", "Progress", "ProgressCallback", "run_workload"]

#: Error messages kept in the summary (the counts are always complete).
MAX_ERRORS = 20
_OPERATION_ERRORS = (PipelineError, ClientError, BotoCoreError)


class EventSink(Protocol):
    """What the workload needs of :class:`producers.publisher.Publisher`: ``flush()``
    returns a result whose ``failed`` lists what was finally not delivered since the last
    flush (each with the ``event``)."""

    def publish(self, event: Any) -> Any: ...

    def flush(self) -> Any: ...


@dataclass(frozen=True)
class Progress:
    """Where the run is: units finished of all units, ops applied, ops failed."""

    units_done: int
    units_total: int
    ops_done: int
    failed: int


ProgressCallback = Callable[[Progress], None]


def run_workload(
    phases: Sequence[Sequence[Unit]],
    *,
    repository: Callable[[], Repository] | None = None,
    publisher: EventSink | None = None,
    threads: int = 4,
    limiter: TokenBucket | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Apply every op; returns counts per entity and outcome.

    Args:
        phases: from :func:`producers.synthetic.plan.phases`.
        repository: makes one repository per worker thread; None skips table writes.
        publisher: receives the :class:`Publish` ops; None skips them.
        threads: worker threads (units of one phase run concurrently).
        limiter: paces every op; None runs flat out.
        on_progress: called after each op, from worker threads.

    Returns:
        ``{"entities": {entity: {outcome: n}}, "summary": {"total", "succeeded",
        "failed", "skipped"}, "errors": [first MAX_ERRORS failures]}``; outcomes are
        ``created``, ``updated``, ``published``, ``failed`` and ``skipped``.
    """
    tally = _Tally(sum(len(p) for p in phases), on_progress)
    local = threading.local()

    def run_unit(unit: Unit) -> None:
        if repository is not None and not hasattr(local, "repo"):
            local.repo = repository()
        for op in unit.build():
            if limiter is not None:
                limiter.acquire()
            tally.record(unit.label, op, _apply(op, getattr(local, "repo", None), publisher))
        tally.unit_done()

    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="generate") as pool:
        for phase in phases:
            done, _ = wait([pool.submit(run_unit, u) for u in phase], return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:  # a bug, not a data error: stop the run
                    pool.shutdown(cancel_futures=True)
                    raise error
    if publisher is not None:
        tally.flush_failures(publisher.flush().failed)
    return tally.summary()


def _apply(op: Op, repo: Repository | None, publisher: EventSink | None) -> str | Exception:
    """The op's outcome: ``created``/``updated``/``published``/``skipped`` or the error."""
    try:
        if isinstance(op, Create):
            if repo is None:
                return "skipped"
            repo.create(op.entity, op.values, actor=op.actor)
            return "created"
        if isinstance(op, Update):
            if repo is None:
                return "skipped"
            repo.update(op.entity, op.key, op.changes, actor=op.actor)
            return "updated"
        if isinstance(op, Publish):
            if publisher is None:
                return "skipped"
            publisher.publish(op.event)
            return "published"
    except _OPERATION_ERRORS as exc:
        return exc
    raise TypeError(f"not an op: {op!r}")


class _Tally:
    """Thread-safe counts, the first errors, and progress reports."""

    def __init__(self, units_total: int, on_progress: ProgressCallback | None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._errors: list[dict[str, str]] = []
        self._units_total, self._units_done, self._ops, self._failed = units_total, 0, 0, 0
        self._on_progress = on_progress

    def record(self, label: str, op: Op, outcome: str | Exception) -> None:
        with self._lock:
            self._ops += 1
            if isinstance(outcome, Exception):
                self._failed += 1
                self._counts[op.entity]["failed"] += 1
                if len(self._errors) < MAX_ERRORS:
                    self._errors.append(
                        {"unit": label, "entity": op.entity, "error": f"{type(outcome).__name__}: {outcome}"}
                    )
            else:
                self._counts[op.entity][outcome] += 1
            progress = self._progress()
        if self._on_progress is not None:
            self._on_progress(progress)

    def unit_done(self) -> None:
        with self._lock:
            self._units_done += 1
            progress = self._progress()
        if self._on_progress is not None:
            self._on_progress(progress)

    def flush_failures(self, failures: Sequence[Any]) -> None:
        """Events the publisher gave up on: they were counted ``published`` when handed over."""
        for failure in failures:
            entity = type(failure.event).entity
            with self._lock:
                self._counts[entity]["published"] -= 1
                self._counts[entity]["failed"] += 1
                self._failed += 1
                if len(self._errors) < MAX_ERRORS:
                    self._errors.append(
                        {
                            "unit": "publisher.flush",
                            "entity": entity,
                            "error": f"{failure.error_code}: {failure.message}",
                        }
                    )

    def summary(self) -> dict[str, Any]:
        with self._lock:
            entities = {e: {k: n for k, n in sorted(c.items()) if n} for e, c in sorted(self._counts.items())}
            total = sum(sum(c.values()) for c in entities.values())
            skipped = sum(c.get("skipped", 0) for c in entities.values())
            failed = sum(c.get("failed", 0) for c in entities.values())
            return {
                "entities": entities,
                "errors": list(self._errors),
                "summary": {
                    "total": total,
                    "succeeded": total - failed - skipped,
                    "failed": failed,
                    "skipped": skipped,
                },
            }

    def _progress(self) -> Progress:
        return Progress(self._units_done, self._units_total, self._ops, self._failed)
