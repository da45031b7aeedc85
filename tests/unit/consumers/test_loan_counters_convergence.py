"""The loan's computed fields converge to the reference calculation whatever the delivery.

Oracle: :func:`schemas.entities.lending.funding_summary` over the final table state.
Histories of loans and participants (invitations, acceptances, withdrawals, declines,
amount changes, soft deletes, restores, deletes, re-creations, loan amount changes) are
shuffled, spread over two shards and delivered through the counters handler with
crashes, throttled items and whole batches delivered twice (:mod:`tests.counter_delivery`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from auxeira.runtime.dead_letters import LocalDeadLetters
from consumers.handlers.counters import build_handler
from consumers.projections.counter_items import loan_summary
from consumers.projections.counters import to_event
from consumers.verify import Expected
from consumers.verify_counters import compare_counters
from schemas.entities.lending import funding_summary
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
LOANS = (("t1", "l0"), ("t1", "l1"), ("t2", "l0"))  # the same loan id in two tenants: two loans
PARTICIPANTS = 6  # participant i belongs to LOANS[i % 3]
ENTITIES = [("loan", n) for n in range(len(LOANS))] + [("loan_participant", n) for n in range(PARTICIPANTS)]
# Few distinct amounts, so buckets hold several participants; floats as the router delivers them.
CONTRIBUTIONS = (100, 250.5, 1000, 2500.5, 0.01, 99999.99)
TARGETS = (1000, 2500.5, 5000, 3000.75)
OPS = ("create", "accept", "withdraw", "decline", "amount", "soft_delete", "restore", "delete", "touch")


@dataclass
class LoanHistory:
    """Interprets operations into envelopes with consistent before/after images.

    Versions keep growing across a delete and re-creation, so a re-created loan's
    target outranks the tombstone of the one before (see the report on re-creation).
    """

    events: list[Envelope] = field(default_factory=list)
    states: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    versions: dict[tuple[str, int], int] = field(default_factory=dict)

    def apply(self, op: str, entity: int, seed: int) -> None:
        kind, index = ENTITIES[entity]
        slot, before = (kind, index), self.states.get((kind, index))
        if before is None:
            action, after = "created", self._new(kind, index, seed)
        elif op == "delete":
            action, after = "deleted", None
        elif op == "soft_delete" and not before.get("deleted_at"):
            action, after = "soft_deleted", {**before, "deleted_at": T0.isoformat()}
        elif op == "restore":
            action, after = "updated", {k: v for k, v in before.items() if k != "deleted_at"}
        else:
            action, after = "updated", {**before, **self._change(kind, op, seed)}
        version = self.versions[slot] = self.versions.get(slot, 0) + 1
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

    @staticmethod
    def _new(kind: str, index: int, seed: int) -> dict[str, Any]:
        if kind == "loan":
            tenant, loan_id = LOANS[index]
            return {
                "tenant_id": tenant,
                "loan_id": loan_id,
                "title": "Working capital",
                "amount": TARGETS[seed % len(TARGETS)],
            }
        tenant, loan_id = LOANS[index % len(LOANS)]
        status = ("pending", "accepted")[seed % 2]
        return {
            "tenant_id": tenant,
            "loan_id": loan_id,
            "participant_id": f"p{index}",
            "lender_email": f"lender{index}@example.com",
            "status": status,
            "contribution_amount": CONTRIBUTIONS[seed % len(CONTRIBUTIONS)],
        }

    @staticmethod
    def _change(kind: str, op: str, seed: int) -> dict[str, Any]:
        if kind == "loan":
            return {"amount": TARGETS[seed % len(TARGETS)]} if op == "amount" else {"title": f"Loan {seed}"}
        if op in ("accept", "withdraw", "decline"):
            return {"status": {"accept": "accepted", "withdraw": "withdrawn", "decline": "declined"}[op]}
        if op == "amount":
            return {"contribution_amount": CONTRIBUTIONS[seed % len(CONTRIBUTIONS)]}
        return {"message": f"note {seed}"}

    def expected(self) -> list[Expected]:
        return [Expected(s["tenant_id"], kind, f"{kind}#{i}", None, s) for (kind, i), s in self.states.items()]

    def participants_of(self, tenant: str, loan_id: str) -> list[dict[str, Any]]:
        return [
            s
            for (kind, _), s in self.states.items()
            if kind == "loan_participant" and (s["tenant_id"], s["loan_id"]) == (tenant, loan_id)
        ]


def build_history(ops: list[tuple[str, int, int]]) -> LoanHistory:
    history = LoanHistory()
    for op in ops:
        history.apply(*op)
    return history


def assert_summaries_match_the_tables(history: LoanHistory, sink: FaultySink) -> None:
    """Every loan's read-time figures equal funding_summary over the final table state."""
    for n, (tenant, loan_id) in enumerate(LOANS):
        summary = loan_summary(sink.get(tenant, f"LOAN#{loan_id}"))
        participants = history.participants_of(tenant, loan_id)
        loan = history.states.get(("loan", n))
        if loan is not None:
            assert summary == funding_summary(loan["amount"], participants), (tenant, loan_id)
        else:  # no loan in the tables: the counted figures stand, the ratios are unknown
            unknown = {"funding_percentage": None, "is_fully_funded": None}
            assert summary == {**funding_summary(1, participants), **unknown}, (tenant, loan_id)


@PROPERTY_SETTINGS
@given(ops=ops_strategy(OPS, len(ENTITIES)), data=st.data())
def test_any_order_and_any_redelivery_give_the_reference_funding_figures(ops, data, tmp_path) -> None:
    # GIVEN a lending history, reordered, spread over two shards
    history = build_history(ops)
    # WHEN every shard is delivered with crashes, throttled items and duplicate batches
    sink, shuffled = deliver_reordered(history.events, data, tmp_path)
    event(f"a loan fully funded: {any(s.get('is_fully_funded') for s in _summaries(sink))}")
    event(f"a target arrived after a newer one: {_stale_target_came_late(shuffled)}")
    # THEN every loan's computed fields are funding_summary over the final tables
    assert_summaries_match_the_tables(history, sink)
    # AND the stored counters (buckets and target versions included) are those of the history applied once
    assert counters_of(sink) == counters_of(applied_once(history.events))
    # AND the drift check agrees
    assert compare_counters(history.expected(), sink, ["t1", "t2"]) == []


def _summaries(sink: FaultySink) -> list[dict[str, Any]]:
    return [loan_summary(item) for item in sink.scan() if item.parent_key.startswith("LOAN#")]


def _stale_target_came_late(events: list[Envelope]) -> bool:
    newest: dict[str, int] = {}
    for e in events:
        if e.entity == "loan":
            if e.version < newest.get(e.key, 0):
                return True
            newest[e.key] = e.version
    return False


# -- crash and replay at every record ------------------------------------------------------------------

_rng = random.Random(19)  # a seed whose history has every action, loan amount changes and a funded loan
FIXED_OPS = [(_rng.choice(OPS), _rng.randrange(len(ENTITIES)), _rng.randrange(10_000)) for _ in range(45)]


@pytest.mark.parametrize("fault", ["crash", "fail"])
@pytest.mark.parametrize("k", range(0, 45, 4))
def test_a_fault_at_record_k_then_redelivery_gives_the_reference_figures(fault: str, k: int, tmp_path) -> None:
    # GIVEN a 45-event lending history in one batch, and a fault at record k on its first delivery
    history = build_history(FIXED_OPS)
    sink = FaultySink()
    handle = build_handler(sink, LocalDeadLetters(tmp_path))
    # WHEN the batch is delivered (a crash gets it whole again; a failure resumes at the lowest failed)
    deliveries = deliver(
        handle,
        sink,
        on_shards(history.events, [0] * len(history.events)),
        iter([Delivery(size=45, fault=fault, at=k), Delivery(size=45)]),
    )
    # THEN it took a second delivery (unless record k counts nothing and could not fail)
    counts_something = bool(to_event("x", "1", history.events[k]).deltas)
    assert deliveries == (2 if fault == "crash" or counts_something else 1)
    # AND the figures are the reference ones
    assert_summaries_match_the_tables(history, sink)
    assert counters_of(sink) == counters_of(applied_once(history.events))


def test_the_fixed_history_exercises_every_figure() -> None:
    """Guards the crash test above against a history too dull to catch anything."""
    history = build_history(FIXED_OPS)
    actions = {e.event_type for e in history.events}
    assert {
        f"{kind}.{action}"
        for kind in ("loan", "loan_participant")
        for action in ("created", "updated", "soft_deleted", "deleted")
    } <= actions
    assert any(
        e.entity == "loan" and e.before and e.after and e.before["amount"] != e.after["amount"] for e in history.events
    )
    loans = [
        funding_summary(s["amount"], history.participants_of(s["tenant_id"], s["loan_id"]))
        for (kind, _), s in history.states.items()
        if kind == "loan"
    ]
    assert {s["is_fully_funded"] for s in loans} == {True, False}
