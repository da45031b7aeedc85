"""Counters delivered the way Lambda delivers a Kinesis shard, for convergence tests.

A small Lambda stand-in delivers each shard in order the way the event source mapping
does: a handler that raises gets the same batch again; reported failures restart the
shard at the lowest failed record; a lost checkpoint delivers a whole batch twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from consumers.projections.counters import coalesce, pad_sequence, to_event
from consumers.sinks.counters_memory import InMemoryCounterSink
from schemas.envelope import Envelope
from schemas.errors import RetryableSinkError
from tests.kinesis_records import kinesis_event, kinesis_record

__all__ = [
    "PROPERTY_SETTINGS",
    "Delivery",
    "FaultySink",
    "applied_once",
    "counters_of",
    "deliver",
    "deliver_reordered",
    "delivery_strategy",
    "on_shards",
    "ops_strategy",
]


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
            batch = records[cursors[shard] : cursors[shard] + step.size]
            if step.fault:
                target = batch[min(step.at, len(batch) - 1)]["kinesis"]["sequenceNumber"]
                sink.fault = (step.fault, pad_sequence(target))
            deliveries += 1
            try:
                response = handle(kinesis_event(*batch), None)
            except Exception:  # noqa: S112 - a raising handler fails the batch: deliver it again
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


delivery_strategy = st.builds(
    Delivery,
    size=st.integers(1, 12),
    fault=st.sampled_from([None, "fail", "fail", "crash"]),
    at=st.integers(0, 11),
    twice=st.booleans(),
)


def deliver_reordered(
    events: list[Envelope], data: st.DataObject, dead_letter_root: Any
) -> tuple[FaultySink, list[Envelope]]:
    """Draw an order, a shard per event and a delivery plan, then deliver through the handler.

    Returns the sink and the events in the order they were put on the shards.
    """
    from auxeira.runtime.dead_letters import LocalDeadLetters
    from consumers.handlers.counters import build_handler

    order = data.draw(st.permutations(range(len(events))), label="order")
    shuffled = [events[i] for i in order]
    shard_of = data.draw(st.lists(st.integers(0, 1), min_size=len(shuffled), max_size=len(shuffled)))
    plan = data.draw(st.lists(delivery_strategy, max_size=30), label="deliveries")
    sink = FaultySink()
    deliver(build_handler(sink, LocalDeadLetters(dead_letter_root)), sink, on_shards(shuffled, shard_of), iter(plan))
    return sink, shuffled


def ops_strategy(ops: tuple[Any, ...], entities: int) -> st.SearchStrategy:
    """Histories of 8 to 60 operations: (operation, entity index, random value)."""
    return st.lists(
        st.tuples(st.sampled_from(ops), st.integers(0, entities - 1), st.integers(0, 10_000)), min_size=8, max_size=60
    )


#: Both convergence properties: many examples, no deadline (a delivery plan may be long).
PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
