"""Bad input at the entry points is refused before anything is written, naming the field; good
input of any width arrives exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from producers.repository import Repository
from producers.stream_router import to_envelope
from schemas import catalog
from schemas.errors import EntityValidationError
from schemas.events import REGISTRY, EventValidationError
from schemas.events.registry import to_envelope as publish_envelope
from schemas.wire.json_values import from_json
from tests.factories import make_item
from tests.moto_tables import moto_dynamodb
from tests.stream_records import stream_record

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=[False, True], ids=["history-off", "history-on"])
def repo(monkeypatch, request) -> Any:
    with moto_dynamodb(monkeypatch, [catalog.table("startups")], "dev", history=True) as client:
        yield Repository(client, env="dev", history=request.param), client


def test_a_boolean_is_not_a_number(repo) -> None:
    repository, _ = repo
    with pytest.raises(EntityValidationError, match="sse_score: must be a number, not a boolean"):
        repository.create("startup", make_item("startup", 1, sse_score=True), actor="ana")


def test_a_500_kb_string_is_refused_naming_the_field_before_dynamodb_sees_it(repo) -> None:
    repository, client = repo
    with pytest.raises(EntityValidationError, match=r"description: makes the item \d+ bytes; DynamoDB stores at most"):
        repository.create("startup", make_item("startup", 1, description="x" * 500_000), actor="ana")
    assert client.scan(TableName="auxeira-startups-dev")["Items"] == []


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("tenant_id", "north:star", "is not a tenant id"),
        ("startup_id", "a|b", "must not contain '|'"),
        ("startup_id", "a#b", "must not contain"),
    ],
)
def test_an_id_that_would_break_a_key_layout_is_refused(repo, field, value, problem) -> None:
    repository, _ = repo
    with pytest.raises(EntityValidationError, match=f"{field}: {problem}"):
        repository.create("startup", make_item("startup", 1, **{field: value}), actor="ana")


def test_a_20_digit_valuation_is_stored_and_routed_exactly(repo) -> None:
    # GIVEN a valuation DynamoDB stores (21 digits) but no double or int64 holds
    repository, client = repo
    metrics = {"valuation": 10**20 + 1, "ratio": Decimal("1.2345678901234567890123456789012345678")}
    repository.create("startup", make_item("startup", 1, financial_metrics=metrics), actor="ana")
    [stored] = client.scan(TableName="auxeira-startups-dev")["Items"]
    # WHEN the router routes the stream record of what was stored
    envelope = to_envelope(stream_record("auxeira-startups-dev", "INSERT", new=_plain(stored)))
    # THEN it arrives digit for digit
    assert from_json(envelope.after["financial_metrics"]) == metrics


def _plain(wire: dict[str, Any]) -> dict[str, Any]:
    from schemas.wire.dynamodb import deserialize_item

    return deserialize_item(wire)


def _view(**properties: Any) -> dict[str, Any]:
    return {
        "event_type": "page_view.recorded",
        "view_id": "v1",
        "tenant_id": "t1",
        "user_id": "u1",
        "path": "/x",
        "occurred_at": T0.isoformat(),
        "properties": properties,
    }


def test_a_published_integer_past_64_bits_travels_exactly() -> None:
    event = REGISTRY.coerce(_view(clicks=10**20))
    envelope = publish_envelope(event, "web")
    assert from_json(envelope.after["properties"]) == {"clicks": 10**20}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1.0, {"x": float("-inf")}]])
def test_a_published_nan_or_infinity_is_refused_naming_where(value) -> None:
    with pytest.raises(EventValidationError, match=r"properties.*NaN and infinity"):
        REGISTRY.coerce(_view(score=value))


def test_a_published_key_or_tenant_that_would_break_a_key_layout_is_refused() -> None:
    with pytest.raises(EventValidationError, match="tenant_id is not a tenant id"):
        REGISTRY.coerce({**_view(), "tenant_id": "a:b"})
    with pytest.raises(EventValidationError, match="view_id must not contain"):
        REGISTRY.coerce({**_view(), "view_id": "v|1"})
