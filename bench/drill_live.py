"""Live traffic for a drill: the workload written while an in-process pipeline consumes it.

The pipeline is polled on the calling thread (the embedded search index's connection
belongs to the thread that opened it) while the workload's writers run on their own; a
drill hooks in between passes (``during``) to stop Redis, kill a process or look at the
store, exactly as an operator would while traffic flows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.runtime.local_pipeline import LocalPipeline
from bench.drill_workload import Ledger, Op, primer, write
from producers.repository import Repository

__all__ = ["DrillResult", "Traffic", "live", "repositories"]


def repositories(runtime: LocalRuntime, history: bool = True) -> Callable[[], Repository]:
    """A repository per writer thread (its own boto3 client), history on as on every CLI path."""
    return lambda: Repository(runtime.endpoints.dynamodb_client(), env=runtime.env, history=history)


@dataclass
class Traffic:
    """What :func:`live` saw: the ledger, and the time the writes took."""

    ledger: Ledger
    started: float
    wrote_seconds: float = 0.0
    polls: int = 0


def live(
    runtime: LocalRuntime,
    ops: Sequence[Op],
    *,
    pipeline: LocalPipeline | None = None,
    rate: float | None = None,
    during: Callable[[Traffic], None] | None = None,
    hold: Callable[[Traffic], bool] | None = None,
    timeout: float = 1800.0,
    history: bool = True,
) -> Traffic:
    """Write ``ops`` while ``pipeline`` (default: the whole local pipeline) consumes them.

    Steps: 0. write the primer (:func:`~bench.drill_workload.primer`) 1. start the writers 2. poll the pipeline, calling ``during`` after each pass,
    until the writers are done and ``hold`` (if given) says False 3. poll until the
    pipeline is caught up 4. give its leases up.
    """
    pipeline = pipeline or build_pipeline(runtime)
    traffic = Traffic(Ledger(), time.monotonic())
    done = threading.Event()
    first, rest = primer(ops)
    write(repositories(runtime, history), first, threads=1, ledger=traffic.ledger)

    def writers() -> None:
        try:
            write(repositories(runtime, history), rest, rate=rate, ledger=traffic.ledger)
        finally:
            traffic.wrote_seconds = time.monotonic() - traffic.started
            done.set()

    thread = threading.Thread(target=writers, name="drill-writers", daemon=True)
    thread.start()
    try:
        while not done.is_set() or (hold is not None and hold(traffic)):
            moved = pipeline.poll()
            traffic.polls += 1
            if during is not None:
                during(traffic)
            if moved.idle:
                time.sleep(0.05)
        thread.join()
        pipeline.run_until_caught_up(timeout=timeout)
    finally:
        pipeline.release()
    return traffic


@dataclass
class DrillResult:
    """One drill's measured end, and the facts it proved on the way (the tests assert on those)."""

    drill: str
    events: int = 0
    lost: int = 0
    drift: int = 0
    seconds: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"drill": self.drill, "events": self.events, "lost": self.lost, "drift": self.drift,
                "seconds": round(self.seconds, 1), **{k: v for k, v in self.facts.items() if _plain(v)}}  # fmt: skip


def _plain(value: Any) -> bool:
    return isinstance(value, bool | int | float | str) or value is None
