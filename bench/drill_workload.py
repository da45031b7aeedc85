"""The failure drills' workload: table writes through the repository, and the ledger of what they wrote.

Ops over a population in three tenants, each op one change on a table stream (so one event
on the bus): startups created, updated (score, tagline), a few soft- and hard-deleted;
activities of those startups (the counters count them); users created and updated; and
documents created, a share of which carry a file name with typographic characters
(``“Q3 deck” – final.pdf``): the records a faulty consumer release refuses
(:mod:`bench.drill_faults`). A poison document is only ever created, so each one is exactly
one record.

:func:`plan_ops` is pure and deterministic in its seed; :func:`write` runs ops on a small
thread pool (the ops of one key stay on one thread, in order) at an optional rate, and
returns the :class:`Ledger`: every event written, by ``(tenant, entity, key, version)``,
the yardstick of "nothing lost".
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from producers.repository import Repository
from producers.synthetic.ratelimit import TokenBucket
from schemas import catalog
from tests.factories import make_item

__all__ = ["ACTOR", "POISON_NAME", "Ledger", "Op", "Written", "is_poison_text", "plan_ops", "primer", "write"]

ACTOR = "drill"
#: A file name pasted from a word processor: curly quotes and an en dash.
POISON_NAME = "“Q3 deck” – final {n}.pdf"
#: (op, weight) of the random part of the mix; creates of startups come first.
_MIX = (("update", 40), ("activity", 30), ("document", 10), ("user", 8), ("soft_delete", 3), ("delete", 2))


def is_poison_text(text: str) -> bool:
    """What the faulty release chokes on: any character beyond ASCII."""
    return not text.isascii()


@dataclass(frozen=True)
class Op:
    """One repository call: ``verb`` on the ``n``-th ``entity`` of ``tenant``."""

    verb: str  # create | update | soft_delete | delete
    entity: str
    n: int
    tenant: str
    values: dict[str, Any] = field(default_factory=dict)  # create overrides, or update changes
    poison: bool = False

    @property
    def lane(self) -> str:
        """Ops of one item share a lane (one thread, in order)."""
        return f"{self.entity}:{self.n}"


@dataclass(frozen=True)
class Written:
    """One event a write produced: the item's key as the envelope carries it, and its version."""

    tenant: str
    entity: str
    key: str
    version: int
    deleted: bool = False
    poison: bool = False


@dataclass
class Ledger:
    """Every event the workload wrote, and the writes that failed (none, normally)."""

    written: list[Written] = field(default_factory=list)
    failed: list[tuple[Op, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, written: Written) -> None:
        with self._lock:
            self.written.append(written)

    def fail(self, op: Op, why: str) -> None:
        with self._lock:
            self.failed.append((op, why))

    @property
    def events(self) -> int:
        return len(self.written)

    def poison(self) -> set[tuple[str, str, str, int]]:
        return {(w.tenant, w.entity, w.key, w.version) for w in self.written if w.poison}

    def extend(self, other: Ledger) -> None:
        self.written += other.written
        self.failed += other.failed


def plan_ops(
    events: int,
    *,
    seed: int,
    tenants: Sequence[str],
    poison_share: float = 0.0,
    startups: int | None = None,
    first: int = 0,
) -> list[Op]:
    """``events`` ops: ``startups`` creates first (default a tenth), then the random mix.

    ``poison_share`` of the ops (rounded) are poison document creates, spread evenly.
    ``first`` offsets every entity number, so two plans in one environment never collide.
    """
    rng = random.Random(seed)
    count = startups if startups is not None else max(3, events // 10)
    poison = round(events * poison_share)
    spread = {count + int((k + 0.5) * (events - count) / poison) for k in range(poison)} if poison else set()
    ops = [_op("create", "startup", first + i, tenants) for i in range(count)]
    live, soft = list(range(first, first + count)), set[int]()
    serial = first + count
    verbs, weights = zip(*_MIX)
    while len(ops) < events:
        if len(ops) in spread:
            ops.append(_op("create", "document", serial, tenants, rng.choice(live), poison=True))
        else:
            ops.append(_random_op(rng.choices(verbs, weights)[0], rng, serial, tenants, live, soft))
        serial += 1
    return ops


def _random_op(verb: str, rng: random.Random, n: int, tenants: Sequence[str], live: list[int], soft: set[int]) -> Op:
    s = rng.choice(live)
    if verb in ("activity", "document"):
        return _op("create", verb, n, tenants, s)
    if verb == "user":
        return _op("create", "user", n, tenants)
    if verb == "update" or len(live) < 4 or (verb == "soft_delete" and s in soft):
        return _op("update", "startup", s, tenants, values={"sse_score": rng.randrange(101), "tagline": f"t{n}"})
    if verb == "soft_delete":
        soft.add(s)
        return _op("soft_delete", "startup", s, tenants)
    live.remove(s)  # a hard-deleted id is never written again (see the README's known limits)
    return _op("delete", "startup", s, tenants)


def _op(
    verb: str,
    entity: str,
    n: int,
    tenants: Sequence[str],
    startup: int | None = None,
    *,
    values: dict[str, Any] | None = None,
    poison: bool = False,
) -> Op:
    """An op; a child (activity, document) belongs to its startup's tenant and points at it."""
    owner = n if startup is None else startup
    tenant = tenants[owner % len(tenants)]
    found = dict(values or {})
    if startup is not None:
        found.update(startup_id=f"s{startup}", user_id=f"u{startup}")
    if poison:
        found["document_name"] = POISON_NAME.format(n=n)
    return Op(verb, entity, n, tenant, found, poison)


def primer(ops: Sequence[Op]) -> tuple[list[Op], list[Op]]:
    """(the first op of each entity, the rest in order): the primer is written before any
    router reads a table stream.

    Why: DynamoDB Local fails ``GetRecords`` with ``TrimmedDataAccessException`` on an
    iterator taken at ``TRIM_HORIZON`` while its shard was empty, once the shard's first
    record lands after records of other tables (AWS keeps such an iterator valid), and
    the local runner does not recover from it (found while writing these drills).
    """
    first: dict[str, int] = {}
    for i, op in enumerate(ops):
        first.setdefault(op.entity, i)
    chosen = set(first.values())
    return [ops[i] for i in sorted(chosen)], [op for i, op in enumerate(ops) if i not in chosen]


def write(
    repository: Callable[[], Repository],
    ops: Iterable[Op],
    *,
    threads: int = 4,
    rate: float | None = None,
    ledger: Ledger | None = None,
    stop: threading.Event | None = None,
) -> Ledger:
    """Run ``ops`` (each lane in order on one thread) and record every event written.

    Args:
        repository: a factory (one repository, so one boto3 client, per thread).
        rate: ops per second for the whole run; None: as fast as the tables take them.
        stop: set to end the run early (the ops not yet run are not written).
    """
    ledger = ledger if ledger is not None else Ledger()
    lanes: dict[int, list[Op]] = {}
    for op in ops:
        lanes.setdefault(hash(op.lane) % threads, []).append(op)
    bucket = TokenBucket(rate, burst=max(1.0, rate / 10)) if rate else None

    def run(lane: list[Op]) -> None:
        repo = repository()
        for op in lane:
            if stop is not None and stop.is_set():
                return
            if bucket is not None:
                bucket.acquire()
            try:
                ledger.add(_apply(repo, op))
            except Exception as exc:  # a failed write is the ledger's to report, not the run's end
                ledger.fail(op, f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="drill-writer") as pool:
        list(pool.map(run, lanes.values()))
    return ledger


def _apply(repo: Repository, op: Op) -> Written:
    table = catalog.table_of_entity(op.entity)
    if op.verb == "create":
        item = repo.create(op.entity, make_item(op.entity, op.n, op.tenant, **op.values), actor=ACTOR)
    elif op.verb == "update":
        item = repo.update(op.entity, {"startup_id": f"s{op.n}"}, op.values, actor=ACTOR)
    elif op.verb == "soft_delete":
        item = repo.soft_delete(op.entity, {"startup_id": f"s{op.n}"}, actor=ACTOR, reason="drill")
    else:
        item = repo.delete(op.entity, {"startup_id": f"s{op.n}"}, actor=ACTOR)
    return Written(op.tenant, op.entity, table.key_of(item), int(item["version"]), op.verb == "delete", op.poison)
