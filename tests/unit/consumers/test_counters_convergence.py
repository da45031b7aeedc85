"""Counters converge whatever the delivery: property test and crash-and-replay, through the handler.

Delivery goes through the Lambda stand-in of :mod:`tests.counter_delivery`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from auxeira.runtime.dead_letters import LocalDeadLetters
from consumers.handlers.counters import build_handler
from consumers.projections.counters import to_event
from consumers.verify import Expected
from consumers.verify_counters import compare_counters
from schemas.envelope import Envelope, Source
from tests.counter_delivery import (
    PROPERTY_SETTINGS,
    Delivery,
    FaultySink,
    applied_once,
    counters_of,
    deliver,
    deliver_reordered,
    on_shards,
    ops_strategy,
)

T0 = datetime(2026, 1, 2, tzinfo=UTC)

# -- a change history: what the tables went through ----------------------------------------------

# entity -> (parent attribute, parent ids, extra state from a seed)
_KINDS: dict[str, tuple[str, tuple[str, ...], Any]] = {
    "activity": (
        "startup_id",
        ("s0", "s1", "s2"),
        lambda n: {
            "aux_tokens_earned": n % 21,
            "aux_tokens_spent": n % 4,
            "timestamp": (T0 + timedelta(minutes=n % 97)).isoformat(),
        },
    ),
    "document": ("startup_id", ("s0", "s1"), lambda n: {"document_name": f"d{n}"}),
    "event_registration": (
        "event_id",
        ("e0", "e1"),
        lambda n: {"status": ("registered", "cancelled", "attended")[n % 3]},
    ),
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
        self.events.append(
            Envelope(
                event_id=f"{kind}-{index}-v{version}",
                event_type=f"{kind}.{action}",
                tenant_id=(after or before)["tenant_id"],
                entity=kind,
                key=f"{kind}#{index}",
                version=version,
                source=Source(table="auxeira-test"),
                occurred_at=T0,
                before=before,
                after=after,
            )
        )

    def expected(self) -> list[Expected]:
        return [Expected(s["tenant_id"], kind, f"{kind}#{i}", None, s) for (kind, i), s in self.states.items()]


def build_history(ops: list[tuple[str, int, int]]) -> History:
    history = History()
    for op in ops:
        history.apply(*op)
    return history


# -- the property --------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(ops=ops_strategy(OPS, len(ENTITIES)), data=st.data())
def test_any_order_and_any_redelivery_give_the_counters_of_the_history_applied_once(ops, data, tmp_path) -> None:
    # GIVEN a change history, reordered, spread over two shards
    history = build_history(ops)
    # WHEN every shard is delivered with crashes, throttled items and duplicate batches
    sink, _ = deliver_reordered(history.events, data, tmp_path)
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
