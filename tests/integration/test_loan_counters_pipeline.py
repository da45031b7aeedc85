"""End to end on the local stack: lending writes through the repository -> DynamoDB Streams ->
router -> Kinesis -> counters consumer; the loans' computed fields equal ``funding_summary``."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from consumers.projections.counter_items import loan_summary
from consumers.verify import expected_states, scan_items
from consumers.verify_counters import compare_counters
from producers.repository import Repository
from schemas import catalog
from schemas.entities.lending import funding_summary
from tests.factories import make_item, timestamp

pytestmark = pytest.mark.integration

ACTOR = "it"
AMOUNTS = (250.5, 1000, 2500.5, 99.99)


def _write_lending(repo: Repository, tenants: list[str], seed: int) -> None:
    """Two loans per tenant, five invitations per loan, then 60 random participant changes, a
    loan amount change and a loan delete."""
    rng = random.Random(seed)
    loans = [(t, f"{t}-l{n}") for t in tenants for n in range(2)]
    for n, (tenant, loan_id) in enumerate(loans):
        repo.create(
            "loan", make_item("loan", n, tenant, loan_id=loan_id, amount=rng.choice((1000, 5000.5))), actor=ACTOR
        )
    participants = [(tenant, loan_id, f"p{n}") for tenant, loan_id in loans for n in range(5)]
    for n, (tenant, loan_id, pid) in enumerate(participants):
        repo.create(
            "loan_participant",
            make_item(
                "loan_participant",
                2 * n,
                tenant,
                loan_id=loan_id,
                participant_id=pid,
                contribution_amount=rng.choice(AMOUNTS),
            ),
            actor=ACTOR,
        )
    alive = dict.fromkeys(participants, True)
    for step in range(60):
        _change(repo, rng, rng.choice([p for p, live in alive.items() if live]), step, alive)
    repo.update("loan", {"loan_id": loans[0][1]}, {"amount": 3000}, actor=ACTOR)
    repo.delete("loan", {"loan_id": loans[-1][1]}, actor=ACTOR)


def _change(repo: Repository, rng: random.Random, participant: tuple[str, str, str], step: int, alive: dict) -> None:
    _, loan_id, pid = participant
    key = {"loan_id": loan_id, "participant_id": pid}
    op = rng.choices(("accept", "withdraw", "decline", "amount", "soft_delete", "delete"), weights=(8, 2, 2, 5, 1, 1))[
        0
    ]
    if op == "delete":
        repo.delete("loan_participant", key, actor=ACTOR)
        alive[participant] = False
    elif op == "soft_delete":
        repo.soft_delete("loan_participant", key, actor=ACTOR, reason="test")
        alive[participant] = False
    elif op == "amount":
        repo.update("loan_participant", key, {"contribution_amount": rng.choice(AMOUNTS)}, actor=ACTOR)
    else:
        status = {"accept": "accepted", "withdraw": "withdrawn", "decline": "declined"}[op]
        repo.update(
            "loan_participant",
            key,
            {"status": status, "lender_id": f"u{step}", "responded_at": timestamp(step)},
            actor=ACTOR,
        )


def _expected(runtime: LocalRuntime, tenants: set[str]) -> list[Any]:
    specs = [catalog.table("loans"), catalog.table("loan-participants")]
    return [
        e
        for spec in specs
        for e in expected_states(spec, scan_items(runtime.dynamodb, spec.physical_name(runtime.env)), tenants)
    ]


def test_lending_writes_through_the_pipeline_give_the_reference_funding_figures(make_runtime) -> None:
    # GIVEN loans and participants written, changed and deleted through the repository
    runtime = make_runtime()
    run = uuid.uuid4().hex[:6]
    tenants = [f"lend-a-{run}", f"lend-b-{run}"]
    _write_lending(Repository(runtime.dynamodb, env=runtime.env), tenants, seed=3)
    # WHEN the router and the counters consumer run until nothing moves
    sink = runtime.counter_sink()
    build_pipeline(runtime, counter_sink=sink).run_until_caught_up()
    # THEN the recount check finds no drift
    expected = _expected(runtime, set(tenants))
    assert compare_counters(expected, sink, tenants) == []
    # AND every loan's computed fields are funding_summary over its stored participants
    loans = [e.state for e in expected if e.entity == "loan"]
    assert len(loans) == 3
    for loan in loans:
        participants = [
            e.state for e in expected if e.entity == "loan_participant" and e.state["loan_id"] == loan["loan_id"]
        ]
        want = funding_summary(loan["amount"], participants)
        assert loan_summary(sink.get(loan["tenant_id"], f"LOAN#{loan['loan_id']}")) == want
    # AND the deleted loan's target is gone, while its remaining participants are still counted
    orphans = [
        e.state for e in expected if e.entity == "loan_participant" and e.state["loan_id"] == f"{tenants[-1]}-l1"
    ]
    assert loan_summary(sink.get(tenants[-1], f"LOAN#{tenants[-1]}-l1")) == {
        **funding_summary(1, orphans),
        "funding_percentage": None,
        "is_fully_funded": None,
    }
