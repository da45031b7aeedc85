"""The lending marketplace (seed ``003_ef98f364b74f5f61.txt``): loans and their participants.

The participant design is the seed's "stable identifiers" one:

* ``participant_id`` is the sort key and never changes. The old design keyed a
  participant by ``lender_id``, which started as ``pending:{email}`` and was rewritten
  to the user id on acceptance: a delete plus a create, with a window for duplicates.
* ``lender_email`` is always present (the invitation goes to an address);
  ``lender_id`` stays absent until the invitation is accepted, then is set in place.
  An absent ``lender_id`` also keeps the participant out of the sparse
  ``LenderIndex`` until there is a lender to find it by.
* Emails are stored lower-cased, so the ``LenderEmailIndex`` lookup is exact.

Amounts are validated as decimals with at most two places (``max_digits`` keeps them
well inside DynamoDB's 38 digits); they are stored as DynamoDB numbers, which are
decimal, and read back as plain ``int``/``float``.

The loan's funding figures (:data:`LOAN_COMPUTED_FIELDS`) are **not** fields of
:class:`Loan`: the model forbids unknown attributes, so no writer can store them on the
loan item, where two participants accepting at once would race to rewrite them. The
counters projection keeps them in the counters table, from the participant fields in
:data:`PARTICIPANT_CONTRIBUTES`; :func:`funding_summary` is the reference definition it
and the consistency checks compute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from schemas.entities.base import Json, TenantModel

__all__ = [
    "LOAN_COMPUTED_FIELDS",
    "LOAN_STATUSES",
    "PARTICIPANT_CONTRIBUTES",
    "PARTICIPANT_STATUSES",
    "Loan",
    "LoanParticipant",
    "funding_summary",
]

LOAN_STATUSES = ("draft", "open", "funded", "active", "repaid", "defaulted", "cancelled")
LoanStatus = Literal["draft", "open", "funded", "active", "repaid", "defaulted", "cancelled"]
PARTICIPANT_STATUSES = ("pending", "accepted", "declined", "withdrawn")
ParticipantStatus = Literal["pending", "accepted", "declined", "withdrawn"]

#: A positive amount of money with at most two decimal places.
Money = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]

#: Kept by the counters projection (counters table), never stored on the loan item.
LOAN_COMPUTED_FIELDS: tuple[str, ...] = (
    "total_funded",
    "funding_percentage",
    "participant_count",
    "accepted_participant_count",
    "pending_participant_count",
    "is_fully_funded",
    "average_contribution",
    "largest_contribution",
    "smallest_contribution",
)

#: The participant fields the computed fields depend on (with the loan's ``amount``).
#: A participant event changes the loan's figures only if one of these changed, or
#: the participant was created, soft-deleted or removed.
PARTICIPANT_CONTRIBUTES: tuple[str, ...] = ("loan_id", "status", "contribution_amount", "deleted_at")

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class Loan(TenantModel):
    """A loan a startup asks its network to fund."""

    loan_id: str = Field(min_length=1)
    startup_id: str = Field(min_length=1)
    borrower_id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    purpose: str | None = None
    amount: Money
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    #: Annual rate in percent (``8.5`` is 8.5 %).
    interest_rate: Decimal = Field(ge=0, le=100, max_digits=7, decimal_places=4)
    term_months: int = Field(gt=0, le=600)
    minimum_contribution: Money | None = None
    status: LoanStatus = "draft"
    opened_at: datetime | None = None
    closes_at: datetime | None = None
    funded_at: datetime | None = None
    #: Repayment schedule and covenants, as agreed (history keeps every earlier version).
    terms: Json | None = None
    #: Where the funds go (bank or ACH details): a secret field, never leaves the table.
    disbursement_account: Json | None = None


class LoanParticipant(TenantModel):
    """One lender's invited or accepted share of a loan.

    Field order matters: ``status`` comes before the fields whose validators read it.
    """

    loan_id: str = Field(min_length=1)
    participant_id: str = Field(min_length=1)
    lender_email: str = Field(pattern=_EMAIL)
    status: ParticipantStatus = "pending"
    lender_id: str | None = Field(default=None, min_length=1, validate_default=True)
    contribution_amount: Money
    invited_by: str | None = None
    invited_at: datetime
    responded_at: datetime | None = Field(default=None, validate_default=True)
    message: str | None = None
    #: Token of the invitation link: a secret field.
    invitation_token: str | None = None

    @field_validator("lender_email", mode="before")
    @classmethod
    def _lower_email(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("lender_id")
    @classmethod
    def _lender_once_accepted(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("status") == "accepted":
            raise ValueError("is required once the invitation is accepted")
        return value

    @field_validator("responded_at")
    @classmethod
    def _response_time(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None and info.data.get("status") in ("accepted", "declined"):
            raise ValueError("is required once the lender has answered the invitation")
        return value


def funding_summary(amount: float | Decimal, participants: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The loan's computed fields from its participants (the reference definition).

    Args:
        amount: the loan's ``amount``.
        participants: stored participant items of that loan; soft-deleted ones
            (``deleted_at`` set) are left out.

    Returns:
        Every name of :data:`LOAN_COMPUTED_FIELDS`. Only accepted participants fund a
        loan; the contribution statistics are over them (None when there are none).
        Amounts are ``Decimal`` so sums are exact; ratios are rounded half up to
        two places.
    """
    live = [p for p in participants if not p.get("deleted_at")]
    accepted = [Decimal(str(p["contribution_amount"])) for p in live if p.get("status") == "accepted"]
    total = sum(accepted, Decimal(0))
    target = Decimal(str(amount))
    return {
        "total_funded": total,
        "funding_percentage": _cents(total * 100 / target) if target else Decimal(0),
        "participant_count": len(live),
        "accepted_participant_count": len(accepted),
        "pending_participant_count": sum(1 for p in live if p.get("status", "pending") == "pending"),
        "is_fully_funded": total >= target,
        "average_contribution": _cents(total / len(accepted)) if accepted else None,
        "largest_contribution": max(accepted) if accepted else None,
        "smallest_contribution": min(accepted) if accepted else None,
    }


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
