"""Redrive: feed set-aside records to their consumer again, after a fix, and say what became of each.

For every selected item, oldest first, in this order:

1. get its records: a dead letter's own, a failure record's payload, or, without payload,
   the range read back from the stream (:mod:`auxeira.operations.dlq_streams`);
2. call the consumer's handler with them, exactly as deployed: a Kinesis record through
   the cache, search or counters handler, a DynamoDB stream record through the router
   (which puts it on the events stream for every consumer); one handler call per item,
   so every item gets its own outcome;
3. put the letters of records still failing back where they belong
   (:func:`~auxeira.operations.dlq_letters.settle`);
4. move what is done to ``redriven/`` with its outcome: copy first, delete second
   (:func:`~auxeira.operations.dlq_letters.archive`).

Outcomes: ``applied`` (something changed), ``stale`` (the sink already held it or newer),
``skipped`` (the consumer projects nothing of it), ``still_poison`` (the handler
dead-lettered it again), ``failed`` (a retryable error, given up by age again, or the
stream no longer retains it), ``gone`` (no longer there when its turn came: another run,
or an earlier item of this one, took it). A dead letter moves only when applied, stale or
skipped; a failure record also when its poison records became dead letters of their own
(each record is then in exactly one place), and never while a record of it is missing or
merely failed. Because every sink is idempotent and every move writes before it deletes,
a redrive killed at any point and run again ends in the same state.

**Erased subjects stay erased**: when the lake's erasure ledger holds anyone
(:mod:`auxeira.operations.erase_guard`), an item's records pass its guard before delivery:
records of an erased owned item are not redriven, records of a shared item go scrubbed.
The item is first rewritten in place without them (so its ``redriven/`` copy never holds
them either); an item left with no record is ``skipped`` and archived with that note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from auxeira.operations.dlq_items import DEAD_LETTER, UNREADABLE, DlqItem, Stores
from auxeira.operations.dlq_letters import archive, archive_key, label_of, relabel, settle
from auxeira.operations.dlq_streams import Fetched, RangeReader
from auxeira.operations.environment import ARCHIVER, CONSUMERS
from auxeira.operations.erase_guard import ErasureGuard, load_guard
from auxeira.runtime.handlers import Handler
from auxeira.runtime.observability import BatchObserver, BatchReport
from auxeira.runtime.sinks import BatchStats

__all__ = ["OUTCOMES", "PROBLEMS", "HandlerFactory", "Redriver", "Result", "Step"]

APPLIED, STALE, SKIPPED, STILL_POISON, FAILED, GONE = "applied", "stale", "skipped", "still_poison", "failed", "gone"
OUTCOMES = (APPLIED, STALE, SKIPPED, STILL_POISON, FAILED, GONE)
#: Outcomes that make ``dlq redrive`` exit 1.
PROBLEMS = frozenset({STILL_POISON, FAILED})
_DONE = frozenset({APPLIED, STALE, SKIPPED})
#: The events consumers an environment can build a handler for.
_EVENT_CONSUMERS = frozenset((*CONSUMERS, ARCHIVER))

#: ``(consumer, observer) -> handler``: ``router`` for table streams, else an events consumer.
HandlerFactory = Callable[[str, BatchObserver], Handler]


@dataclass(frozen=True)
class Step:
    """One line of the plan: an item, the handler it goes through, and where it would move."""

    item: DlqItem
    moves_to: str
    fetched: Fetched | None = None

    @property
    def records(self) -> int:
        return (
            len(self.item.records)
            if self.item.records is not None
            else len(self.fetched.records if self.fetched else [])
        )

    def as_dict(self) -> dict[str, Any]:
        item = self.item
        via = "router, then the events stream" if item.consumer == "router" else f"{item.consumer} handler"
        return {
            **{k: v for k, v in item.summary().items() if k not in ("message", "records", "payload")},
            "via": via,
            "from": "payload" if item.records is not None else "stream",
            "records": self.records,
            "retention": self.fetched.as_dict() if self.fetched else None,
            "moves_to": self.moves_to,
        }


@dataclass
class Result:
    """What one item's redrive did."""

    id: str
    kind: str
    consumer: str
    outcome: str
    records: int = 0
    counts: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    dead_letters: list[str] = field(default_factory=list)
    moved_to: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Call:
    stats: BatchStats
    dead_lettered: list[tuple[str, str]]
    error: str | None = None

    @property
    def outcome(self) -> str:
        s = self.stats
        if self.error or s.retried:
            return FAILED
        if s.poison:
            return STILL_POISON
        if s.dead_lettered:
            return FAILED  # given up by age again: its sink still fails
        return APPLIED if s.applied else STALE if s.stale else SKIPPED


class Redriver:
    """Plans and runs a redrive (see the module docstring).

    Args:
        handlers: builds a consumer's handler (the environment's, as deployed).
        reader: reads a failure record's range back from its stream.
        guard: the erasure ledger's guard; True (the default): read from the lake
            (``stores.lake``) on first use; None: no guard.
        give_up_after: consecutive failures of one consumer after which its remaining
            items are not attempted (a sink still down would fail each after a timeout).
        clock: now, in UTC (tests inject one).
    """

    def __init__(
        self,
        stores: Stores,
        handlers: HandlerFactory,
        reader: RangeReader,
        give_up_after: int = 5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        guard: ErasureGuard | bool | None = True,
    ):
        self.stores = stores
        self._guard = guard
        self.handlers = handlers
        self.reader = reader
        self.give_up_after = give_up_after
        self.clock = clock
        self._built: dict[str, tuple[Handler, list[BatchReport]]] = {}
        self._failing: dict[str, int] = {}

    @property
    def guard(self) -> ErasureGuard | None:
        """The erasure ledger's guard (read once; raises ValueError for an S3 lake without the key)."""
        if self._guard is True:
            self._guard = load_guard(self.stores.lake)
        return self._guard if isinstance(self._guard, ErasureGuard) else None

    def plan(self, items: Iterable[DlqItem]) -> list[Step]:
        """The steps, oldest first; a failure record without payload is read from its stream now."""
        _ = self.guard  # a lake that holds erasures and no key to read them: refused before anything moves
        ordered = sorted(items, key=lambda i: (i.time or datetime.min.replace(tzinfo=UTC), i.shard_id, _int(i)))
        return [
            Step(i, self.stores.id_of(i.store, archive_key(i)), None if i.records is not None else self.reader.fetch(i))
            for i in ordered
        ]

    def run(self, steps: Sequence[Step], progress: Callable[[Result], None] | None = None) -> list[Result]:
        results = []
        for step in steps:
            result = self._redrive(step)
            results.append(result)
            if progress is not None:
                progress(result)
        return results

    def _redrive(self, step: Step) -> Result:
        item = self.stores.get(step.item.id)
        if item is None:
            return _result(step.item, GONE, note="no longer there (redriven or merged already)")
        if self._failing.get(item.consumer, 0) >= self.give_up_after:
            note = f"not attempted: the last {self.give_up_after} redrives through {item.consumer} failed"
            return _result(item, FAILED, note=note)
        fetched = step.fetched if item.records is None else None
        records = item.records if item.records is not None else (fetched.records if fetched else [])
        problem = self._unroutable(item, records, fetched)
        if problem:
            return _result(item, FAILED, note=problem)
        return self._deliver(item, records, fetched)

    def _deliver(self, item: DlqItem, records: list[dict[str, Any]], fetched: Fetched | None) -> Result:
        guard = self.guard
        if guard is not None:
            allowed = guard.records(records)
            if len(allowed) != len(records) or any(a is not r for a, r in zip(allowed, records)):
                _strip_erased(item, allowed)
                records = allowed
            if not records:
                note = "every record is of an erased subject: not redriven"
                result = _result(item, SKIPPED, note=note)
                entry = {"outcome": SKIPPED, "counts": {}, "note": note, "dead_letters": []}
                result.moved_to = archive(self.stores, item, {**entry, "redriven_at": self.clock().isoformat()})
                return result
        sent = [relabel(r, label_of(item)) for r in records] if item.consumer == "counters" else records
        started = self.clock()
        call = self._invoke(item.consumer, sent)
        sink_failed = call.outcome == FAILED
        self._failing[item.consumer] = self._failing.get(item.consumer, 0) + 1 if sink_failed else 0
        days = (started.date(), self.clock().date())
        kept = settle(self.stores, item, sent, records, call.dead_lettered, days) if call.dead_lettered else []
        outcome, note = call.outcome, call.error or "; ".join(dict.fromkeys(k.message for k in kept))
        if fetched is not None and fetched.retained != "all":
            outcome, note = FAILED, fetched.note
        result = _result(item, outcome, len(records), call.stats.as_dict(), note, [k.id for k in kept])
        if self._moves(item, outcome, call, fetched):
            entry = {k: getattr(result, k) for k in ("outcome", "counts", "note", "dead_letters")}
            result.moved_to = archive(self.stores, item, {**entry, "redriven_at": self.clock().isoformat()})
        return result

    def _moves(self, item: DlqItem, outcome: str, call: _Call, fetched: Fetched | None) -> bool:
        if item.kind == DEAD_LETTER:
            return outcome in _DONE
        complete = fetched is None or fetched.retained == "all"
        return complete and call.error is None and not call.stats.retried

    def _unroutable(self, item: DlqItem, records: list[dict[str, Any]], fetched: Fetched | None) -> str:
        if item.error_type == UNREADABLE:
            return item.message
        if item.source == "dynamodb" and item.consumer != "router":
            return f"a table stream record for {item.consumer!r}: only the router reads table streams"
        if item.source == "kinesis" and item.consumer not in _EVENT_CONSUMERS:
            return f"no consumer of the events stream is named {item.mapping!r}: cannot tell which handler to use"
        if not records:
            return fetched.note if fetched is not None else "no records to redrive"
        return ""

    def _invoke(self, consumer: str, records: list[dict[str, Any]]) -> _Call:
        try:
            handler, reports = self._handler(consumer)
            reports.clear()
            handler({"Records": records}, None)
        except Exception as exc:  # noqa: BLE001 - a failed delivery is this item's outcome, not the run's
            return _Call(BatchStats(records=len(records), retried=len(records)), [], f"{type(exc).__name__}: {exc}")
        stats = BatchStats()
        for report in reports:
            stats.add(report.stats)
        dead = [(f["position"], f["error"]) for r in reports for f in r.failures if f.get("outcome") == "dead-lettered"]
        return _Call(stats, dead)

    def _handler(self, consumer: str) -> tuple[Handler, list[BatchReport]]:
        if consumer not in self._built:
            reports: list[BatchReport] = []
            self._built[consumer] = (self.handlers(consumer, reports.append), reports)
        return self._built[consumer]


def _result(
    item: DlqItem,
    outcome: str,
    records: int = 0,
    counts: dict[str, Any] | None = None,
    note: str = "",
    letters: list[str] | None = None,
) -> Result:
    return Result(item.id, item.kind, item.consumer, outcome, records, counts or {}, note, letters or [])


def _int(item: DlqItem) -> int:
    try:
        return int(item.first_sequence)
    except ValueError:
        return 0


def _strip_erased(item: DlqItem, kept: list[dict[str, Any]]) -> None:
    """Rewrite the item in place with only ``kept`` records (erased subjects' records out), so
    neither the item nor its archived copy holds them (one atomic put)."""
    doc = orjson.loads(item.store.get(item.key))
    if item.kind == DEAD_LETTER:
        doc["record"] = kept[0] if kept else {"erased": "the record was of an erased subject"}
    else:
        info = "KinesisBatchInfo" if "KinesisBatchInfo" in doc else "DDBStreamBatchInfo"
        doc[info] = {**doc.get(info, {}), "batchSize": len(kept)}
        doc["payload"] = orjson.dumps({"Records": kept}).decode()
    item.store.put(item.key, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
