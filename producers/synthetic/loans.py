"""Loans a startup asks its network to fund, with their participants (seed ``003``).

Pure. A loan and its participants agree: lenders who accepted have a ``lender_id``
and a response time, pending invitations have neither; accepted contributions never
exceed the loan's amount; the loan ends ``funded`` (with ``funded_at``, the last
acceptance) exactly when they reach it, else it stays ``open``. Amounts are whole dollars as strings, which the models' two-place
``Decimal`` fields take exactly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from producers.synthetic import names
from producers.synthetic.ops import Create, Op, Update, by_time

__all__ = ["LOAN_SHARE", "build_loan"]

#: Share of startups (from Seed on) that ask for a loan over the range.
LOAN_SHARE = 0.2
_STAGES_WITH_LOANS = ("Seed", "Series A", "Series B", "Series C", "Growth")


def build_loan(
    rng: random.Random,
    *,
    tenant_id: str,
    startup: dict[str, Any],
    borrower_id: str,
    lenders: Sequence[dict[str, Any]],
    opened_at: datetime,
    end: datetime,
) -> list[Op]:
    """The loan, its invitations, the lenders' answers and the loan's funding, as ops in time
    order; ``[]`` when the startup takes no loan (too early a stage, or not among
    :data:`LOAN_SHARE`).

    Invitations are created ``pending`` with no ``lender_id``; an acceptance sets
    ``lender_id`` in place (seed 003's stable ``participant_id`` design). Nothing happens
    after ``end`` (the end of the range, at or after ``opened_at``).
    """
    if startup["stage"] not in _STAGES_WITH_LOANS or rng.random() >= LOAN_SHARE:
        return []
    loan_id = names.seeded_uuid(rng)
    amount = rng.randrange(25, 251) * 1_000
    ops: list[Op] = [
        Create("loan", _loan(rng, tenant_id, loan_id, startup, borrower_id, amount, opened_at), borrower_id, opened_at)
    ]
    accepted, last_accept = 0, None
    for lender in rng.sample(list(lenders), min(len(lenders), rng.randint(1, 4))):
        # Clamped to the range: nothing happens after its end, and an answer never
        # precedes its invitation (the update would find no participant to update).
        invited = min(end, opened_at + timedelta(hours=rng.randint(1, 72)))
        answered = min(end, invited + timedelta(days=rng.randint(1, 10)))
        answer = rng.choices(("accepted", "pending", "declined"), weights=(6, 3, 1))[0]
        share = rng.randrange(5, 101) * 1_000
        if answer == "accepted":
            share = min(share, amount - accepted)
            answer = "accepted" if share > 0 else "pending"
            share = share if share > 0 else 5_000
        participant_id = names.seeded_uuid(rng)
        ops.append(
            Create(
                "loan_participant",
                {
                    "tenant_id": tenant_id,
                    "loan_id": loan_id,
                    "participant_id": participant_id,
                    "lender_email": lender["email"],
                    "contribution_amount": str(share),
                    "invited_by": borrower_id,
                    "invited_at": invited,
                    "message": "Would you back us?",
                    "invitation_token": f"inv_{rng.getrandbits(96):024x}",
                },
                borrower_id,
                invited,
            )
        )
        if answer == "pending":
            continue
        changes: dict[str, Any] = {"status": answer, "responded_at": answered}
        if answer == "accepted":
            changes["lender_id"] = lender["user_id"]
            accepted += share
            last_accept = max(last_accept or answered, answered)
        ops.append(
            Update(
                "loan_participant",
                {"loan_id": loan_id, "participant_id": participant_id},
                changes,
                lender["user_id"],
                answered,
            )
        )
    if accepted >= amount and last_accept is not None:
        ops.append(
            Update(
                "loan", {"loan_id": loan_id}, {"status": "funded", "funded_at": last_accept}, borrower_id, last_accept
            )
        )
    return by_time(ops)


def _loan(
    rng: random.Random,
    tenant_id: str,
    loan_id: str,
    startup: dict[str, Any],
    borrower_id: str,
    amount: int,
    opened_at: datetime,
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "loan_id": loan_id,
        "startup_id": startup["startup_id"],
        "borrower_id": borrower_id,
        "title": f"{startup['company_name']} working capital",
        "purpose": rng.choice(("inventory", "working capital", "equipment", "bridge to next round")),
        "amount": str(amount),
        "interest_rate": str(rng.choice((6, 7.5, 8, 9.5, 11, 12.5))),
        "term_months": rng.choice((12, 18, 24, 36)),
        "minimum_contribution": "5000",
        "status": "open",
        "opened_at": opened_at,
        "closes_at": opened_at + timedelta(days=45),
        "disbursement_account": {"bank": "OpenBank", "account_last4": f"{rng.randrange(10**4):04d}"},
    }
