"""Counters converge whatever the delivery: property test and crash-and-replay, through the handler.

A small Lambda stand-in delivers each shard in order the way the event source mapping
does: a handler that raises gets the same batch again; reported failures restart the
shard at the lowest failed record; a lost checkpoint delivers a whole batch twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from consumers.dead_letters import LocalDeadLetters
from consumers.handlers.counters import build_handler
from consumers.projections.counters import coalesce, pad_sequence, to_event
from consumers.sinks.counters_memory import InMemoryCounterSink
from consumers.verify import Expected
from consumers.verify_counters import compare_counters
from schemas.envelope import Envelope, Source
from schemas.errors import RetryableSinkError
from tests.kinesis_records import kinesis_event, kinesis_record

T0 = datetime(2026, 1, 2, tzinfo=timezone.utc)

# -- a change history: what the tables went through ----------------------------------------------

# entity -> (parent attribute, parent ids, extra state from a seed)
_KINDS: dict[str, tuple[str, tuple[str, ...], Any]] = {
    "activity": ("startup_id", ("s0", "s1", "s2"), lambda n: {
        "aux_tokens_earned": n % 21, "aux_tokens_spent": n % 4,
        "timestamp": (T0 + timedelta(minutes=n % 97)).isoformat()}),
    "document": ("startup_id", ("s0", "s1"), lambda n: {"document_name": f"d{n}"}),
    "event_registration": ("event_id", ("e0", "e1"), lambda n: {
        "status": ("registered", "cancelled", "attended")[n % 3]}),
    "user_session": ("user_id", ("u0", "u1"), lambda n: {"page_views": n % 7}),
}
ENTITIES = [(kind, i) for kind in _KINDS for i in range(2)]
OPS = ("create", "update", "move", "soft_delete", "restore", "delete", "expire")


@dataclass
class History:
    """Interprets operations into envelopes with consistent before/after images."""

    events: list[Envelope] = field(default_factory=list)
    states: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    versions: dict[tuple[str, int], int] = field(default_factory=dict)

    def apply(self, op: str, entity: int, seed: int) -> None:
        kind, index = ENTITIES[entity]
        attr, parents, extra = _KINDS[kind]
        slot, before = (kind, index), self.states.get((kind, index))
        tenant = ("t1", "t2")[seed % 2] if kind == "document" else "t1"
        fresh = {"tenant_id": tenant, attr: parents[seed % len(parents)], **extra(seed)}
        if before is None:
            action, after = "created", fresh
        elif op in ("delete", "expire"):
            action, after = ("deleted" if op == "delete" else "expired"), None
        elif op == "soft_delete" and not before.get("deleted_at"):
            action, after = "soft_deleted", {**before, "deleted_at": T0.isoformat()}
        elif op == "restore":
            action, after = "updated", {k: v for k, v in before.items() if k != "deleted_at"}
        elif op == "move":  # to another parent (and, for documents, maybe another tenant)
            action, after = "updated", {**before, "tenant_id": tenant, attr: fresh[attr]}
        else:
            action, after = "updated", {**before, **extra(seed)}
        version = self.versions.get(slot, 0) + 1
        self.versions[slot] = version
        if after is None:
            self.states.pop(slot)
        else:
            self.states[slot] = after
        self.events.append(Envelope(
            event_id=f"{kind}-{index}-v{version}", event_type=f"{kind}.{action}",
            tenant_id=(after or before)["tenant_id"], entity=kind, key=f"{kind}#{index}", version=version,
            source=Source(table="auxeira-test"), occurred_at=T0, before=before, after=after,
        ))

    def expected(self) -> list[Expected]:
        return [Expected(s["tenant_id"], kind, f"{kind}#{i}", None, s) for (kind, i), s in self.states.items()]


def build_history(ops: list[tuple[str, int, int]]) -> History:
    history = History()
    for op in ops:
        history.apply(*op)
    return history


# -- delivery as Lambda does it ---------------------------------------------------------------------


class FaultySink(InMemoryCounterSink):
    """Injects one fault per write call: fail the updates holding a record, or crash at it."""

    def __init__(self) -> None:
        super().__init__()
        self.fault: tuple[str, str] | None = None  # ("fail" | "crash", padded sequence)

    def write(self, updates):
        fault, self.fault = self.fault, None
        if fault is None:
            return super().write(updates)
        kind, sequence = fault
        holds = [any(p.sequence == sequence for p in u.parts) for u in updates]
        if kind == "crash":
            # the process dies at the first update holding the record: earlier ones are written
            stop = holds.index(True) if True in holds else len(updates)
            super().write(updates[:stop])
            raise RuntimeError("Lambda timed out")
        written = iter(super().write([u for u, h in zip(updates, holds) if not h]))
        return [RetryableSinkError("throttled") if h else next(written) for h in holds]


@dataclass(frozen=True)
class Delivery:
    """One delivery of a shard's next batch: its size, a fault, and whether it comes twice."""

    size: int = 4
    fault: str | None = None  # "fail" | "crash", at the batch's ``at``-th record
    at: int = 0
    twice: bool = False


def deliver(handle: Any, sink: FaultySink, shards: dict[str, list[dict]], plan: Iterator[Delivery]) -> int:
    """Deliver every shard to its end, interleaving shards batch by batch; returns deliveries."""
    cursors = dict.fromkeys(shards, 0)
    deliveries = 0
    while any(cursors[s] < len(shards[s]) for s in shards):
        for shard, records in shards.items():
            if cursors[shard] >= len(records):
                continue
            step = next(plan, Delivery())
            batch = records[cursors[shard]:cursors[shard] + step.size]
            if step.fault:
                target = batch[min(step.at, len(batch) - 1)]["kinesis"]["sequenceNumber"]
                sink.fault = (step.fault, pad_sequence(target))
            deliveries += 1
            try:
                response = handle(kinesis_event(*batch), None)
            except Exception:  # noqa: BLE001 - a raising handler gets the same batch again
                continue
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            if failed:
                cursors[shard] += min(i for i, r in enumerate(batch) if r["kinesis"]["sequenceNumber"] in failed)
            elif not step.twice:
                cursors[shard] += len(batch)
    return deliveries


def on_shards(events: list[Envelope], shard_of: list[int]) -> dict[str, list[dict]]:
    sequence = itertools.count(49_000_000_000_000_000_000_000)
    shards: dict[str, list[dict]] = {}
    for envelope, n in zip(events, shard_of):
        shard = f"shardId-00000000000{n}"
        shards.setdefault(shard, []).append(kinesis_record(envelope, shard=shard, sequence=str(next(sequence))))
    return shards


def applied_once(events: list[Envelope]) -> InMemoryCounterSink:
    """The reference: every event's deltas applied exactly once, in history order."""
    sink = InMemoryCounterSink()
    sink.write(coalesce(to_event("ref", str(n), e) for n, e in enumerate(events, 1)))
    return sink


def counters_of(sink: InMemoryCounterSink) -> dict[tuple[str, str], dict[str, Any]]:
    """Every non-zero counter (a counter that went up and back down holds 0: the same)."""
    found = {(i.tenant, i.parent_key): {k: v for k, v in i.values.items() if v != 0} for i in sink.scan()}
    return {key: values for key, values in found.items() if values}


# -- the property --------------------------------------------------------------------------------

ops_strategy = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, len(ENTITIES) - 1), st.integers(0, 10_000)),
    min_size=8, max_size=60,
)
delivery_strategy = st.builds(
    Delivery, size=st.integers(1, 12), fault=st.sampled_from([None, "fail", "fail", "crash"]),
    at=st.integers(0, 11), twice=st.booleans(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(ops=ops_strategy, data=st.data())
def test_any_order_and_any_redelivery_give_the_counters_of_the_history_applied_once(ops, data, tmp_path) -> None:
    # GIVEN a change history, reordered, spread over two shards
    history = build_history(ops)
    order = data.draw(st.permutations(range(len(history.events))), label="order")
    shuffled = [history.events[i] for i in order]
    shard_of = data.draw(st.lists(st.integers(0, 1), min_size=len(shuffled), max_size=len(shuffled)))
    plan = data.draw(st.lists(delivery_strategy, max_size=30), label="deliveries")
    # WHEN every shard is delivered with crashes, throttled items and duplicate batches
    sink = FaultySink()
    deliver(build_handler(sink, LocalDeadLetters(tmp_path)), sink, on_shards(shuffled, shard_of), iter(plan))
    event(f"an update resumed: {sink.stats.resumed > 0}")
    event(f"an update replayed: {sink.stats.replayed > 0}")
    # THEN the counters are those of the history applied once, in order
    reference = applied_once(history.events)
    assert counters_of(sink) == counters_of(reference)
    # AND those match a recount of the final table states
    assert compare_counters(history.expected(), reference, ["t1", "t2"]) == []


# -- crash and replay at every record ----------------------------------------------------------------

FIXED_OPS = [(OPS[(n * 5) % len(OPS)], n % len(ENTITIES), n * 37) for n in range(40)]


@pytest.mark.parametrize("fault", ["crash", "fail"])
@pytest.mark.parametrize("k", range(0, 40, 3))
def test_a_fault_at_record_k_then_redelivery_converges(fault: str, k: int, tmp_path) -> None:
    # GIVEN a 40-event history in one batch, and a fault at record k on its first delivery
    history = build_history(FIXED_OPS)
    shards = on_shards(history.events, [0] * len(history.events))
    sink = FaultySink()
    handle = build_handler(sink, LocalDeadLetters(tmp_path))
    # WHEN the batch is delivered (a crash gets it whole again; a failure resumes at the lowest failed)
    deliveries = deliver(handle, sink, shards, iter([Delivery(size=40, fault=fault, at=k), Delivery(size=40)]))
    # THEN it took a second delivery (unless record k counts nothing and could not fail)
    counts_something = bool(to_event("x", "1", history.events[k]).deltas)
    assert deliveries == (2 if fault == "crash" or counts_something else 1)
    # AND the counters are those of one clean delivery
    assert counters_of(sink) == counters_of(applied_once(history.events))
