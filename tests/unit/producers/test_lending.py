"""The lending marketplace: loan and participant models, their tables, and the stable
participant design (immutable participant_id, lender_id set in place on acceptance)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from infra.tables import create_table_request
from producers.repository import Repository
from schemas import catalog
from schemas.entities.lending import (
    LOAN_COMPUTED_FIELDS,
    PARTICIPANT_CONTRIBUTES,
    Loan,
    LoanParticipant,
    funding_summary,
)
from schemas.errors import EntityValidationError
from schemas.fields import FieldClass
from tests.factories import make_item, make_key
from tests.moto_tables import moto_dynamodb

ENV = "test"
ACTOR = "user:alice"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_dynamodb(monkeypatch, [catalog.table("loans"), catalog.table("loan-participants")], ENV) as ddb:
        yield ddb


@pytest.fixture
def repo(client: Any) -> Repository:
    return Repository(client, env=ENV)


def _participant(n: int = 0, **overrides: Any) -> dict[str, Any]:
    return make_item("loan_participant", n, **overrides)


# -- models ------------------------------------------------------------------------------


def test_pending_participant_needs_no_lender_id() -> None:
    # GIVEN an invitation to an address nobody has answered yet
    participant = LoanParticipant.model_validate(_participant(0))
    # THEN it is pending, with an email and no lender
    assert (participant.status, participant.lender_id) == ("pending", None)
    assert participant.lender_email == "lender0@example.com"


@pytest.mark.parametrize(
    "missing,status", [("lender_id", "accepted"), ("responded_at", "accepted"), ("responded_at", "declined")]
)
def test_answered_participant_requires_its_fields_and_the_error_names_them(missing: str, status: str) -> None:
    values = _participant(1, status=status, lender_id="u1", responded_at="2026-02-01T00:00:00Z")
    del values[missing]
    with pytest.raises(ValueError) as err:
        LoanParticipant.model_validate(values)
    assert [e["loc"] for e in err.value.errors()] == [(missing,)]


def test_lender_email_is_stored_lower_case_so_the_email_index_lookup_is_exact() -> None:
    participant = LoanParticipant.model_validate(_participant(0, lender_email="  Ada@Example.COM "))
    assert participant.lender_email == "ada@example.com"


@pytest.mark.parametrize("amount", [0, -5, 10.005])
def test_contribution_must_be_positive_with_two_decimals(repo: Repository, amount: float) -> None:
    with pytest.raises(EntityValidationError) as err:
        repo.create("loan_participant", _participant(0, contribution_amount=amount), actor=ACTOR)
    assert err.value.fields == ["contribution_amount"]


@pytest.mark.parametrize("field", LOAN_COMPUTED_FIELDS)
def test_writers_cannot_store_computed_funding_fields_on_the_loan(repo: Repository, field: str) -> None:
    # GIVEN a loan carrying one of the figures the counters projection owns
    values = {**make_item("loan", 1), field: 1}
    # WHEN it is written THEN the field is refused by name, and nothing is stored
    with pytest.raises(EntityValidationError) as err:
        repo.create("loan", values, actor=ACTOR)
    assert err.value.errors == [(field, "unknown attribute")]
    assert repo.get("loan", make_key("loan", 1)) is None
    assert field not in Loan.model_fields


def test_participant_contributes_only_fields_it_has() -> None:
    assert set(PARTICIPANT_CONTRIBUTES) <= set(LoanParticipant.model_fields)


def test_amounts_round_trip_exactly(repo: Repository) -> None:
    created = repo.create("loan", make_item("loan", 1, amount=123456789.99, interest_rate=7.125), actor=ACTOR)
    stored = repo.get("loan", make_key("loan", 1))
    assert (
        (stored["amount"], stored["interest_rate"])
        == (123456789.99, 7.125)
        == (created["amount"], created["interest_rate"])
    )


# -- catalog -----------------------------------------------------------------------------


def test_lending_tables_key_schema_and_indexes() -> None:
    loans = create_table_request(catalog.table("loans"), "prod")
    participants = create_table_request(catalog.table("loan-participants"), "prod")
    assert loans["TableName"] == "auxeira-loans-prod"
    assert participants["TableName"] == "auxeira-loan-participants-prod"
    indexes = {
        g["IndexName"]: [k["AttributeName"] for k in g["KeySchema"]] for g in participants["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "LenderEmailIndex": ["lender_email", "status"],
        "LenderIndex": ["lender_id", "status"],
        "ParticipantIndex": ["participant_id"],
    }
    assert participants["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert catalog.resolve("auxeira-loan-participants-dev")[0].name == "loan-participants"
    assert catalog.resolve("auxeira-loans-dev")[0].name == "loans"


def test_participant_key_is_the_immutable_participant_id_and_points_at_its_loan() -> None:
    spec = catalog.entity("loan_participant")
    assert (spec.pk, spec.sk) == ("LOAN#{loan_id}", "PARTICIPANT#{participant_id}")
    assert "lender_id" not in spec.template_fields()
    assert spec.parents == {"loan_id": "loan"}
    assert spec.field_class("invitation_token") is FieldClass.SECRET
    assert spec.field_class("lender_email") is FieldClass.PII
    assert catalog.entity("loan").field_class("disbursement_account") is FieldClass.SECRET


# -- the stable participant design, end to end -----------------------------------------------


def test_accepting_an_invitation_sets_lender_id_in_place(repo: Repository) -> None:
    # GIVEN a pending invitation, invisible in the lender index (no lender_id yet)
    created = repo.create("loan_participant", _participant(0), actor="u0")
    key = make_key("loan_participant", 0)
    assert repo.list("loan_participant", index="LenderIndex", partition="u7").items == []
    # WHEN the invitee accepts
    accepted = repo.update(
        "loan_participant",
        key,
        {"status": "accepted", "lender_id": "u7", "responded_at": "2026-02-01T00:00:00Z"},
        actor="u7",
    )
    # THEN the same item changed in place: same key, next version, lender findable by id
    assert table_key(accepted) == table_key(created) and accepted["version"] == 2
    found = repo.list("loan_participant", index="LenderIndex", partition="u7", key_condition="accepted")
    assert [table_key(i) for i in found.items] == [table_key(created)]
    # AND still findable by email, now under its new status
    by_email = repo.list(
        "loan_participant", index="LenderEmailIndex", partition="lender0@example.com", key_condition="pending"
    )
    assert by_email.items == []


def test_accepting_without_a_lender_is_refused_naming_the_field(repo: Repository) -> None:
    repo.create("loan_participant", _participant(0), actor="u0")
    with pytest.raises(EntityValidationError) as err:
        repo.update(
            "loan_participant",
            make_key("loan_participant", 0),
            {"status": "accepted", "responded_at": "2026-02-01T00:00:00Z"},
            actor="u7",
        )
    assert err.value.fields == ["lender_id"]


def test_participant_id_cannot_change(repo: Repository) -> None:
    repo.create("loan_participant", _participant(0), actor="u0")
    with pytest.raises(EntityValidationError) as err:
        repo.update("loan_participant", make_key("loan_participant", 0), {"participant_id": "other"}, actor="u0")
    assert err.value.fields == ["participant_id"]


def table_key(item: dict[str, Any]) -> tuple[str, str]:
    return item["PK"], item["SK"]


# -- funding summary (the counters projection's reference) -----------------------------------------


def test_funding_summary_counts_only_live_accepted_contributions() -> None:
    participants = [
        {"status": "accepted", "contribution_amount": 2500.5},
        {"status": "accepted", "contribution_amount": 1000},
        {"status": "pending", "contribution_amount": 9000},
        {"status": "declined", "contribution_amount": 50},
        {"status": "accepted", "contribution_amount": 7000, "deleted_at": "2026-01-01T00:00:00Z"},
    ]
    summary = funding_summary(10000, participants)
    assert set(summary) == set(LOAN_COMPUTED_FIELDS)
    assert summary == {
        "total_funded": Decimal("3500.5"),
        "funding_percentage": Decimal("35.01"),
        "participant_count": 4,
        "accepted_participant_count": 2,
        "pending_participant_count": 1,
        "is_fully_funded": False,
        "average_contribution": Decimal("1750.25"),
        "largest_contribution": Decimal("2500.5"),
        "smallest_contribution": Decimal("1000"),
    }


def test_funding_summary_of_a_loan_without_lenders() -> None:
    summary = funding_summary(500, [])
    assert (summary["total_funded"], summary["is_fully_funded"], summary["average_contribution"]) == (0, False, None)


def test_funding_summary_fully_funded_at_exactly_the_amount() -> None:
    assert funding_summary(100.1, [{"status": "accepted", "contribution_amount": 100.1}])["is_fully_funded"]
