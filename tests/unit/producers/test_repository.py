"""Repository write path against moto's DynamoDB, and the value conversions under it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.tables import create_table_request
from producers.repository import AUDIT_FIELDS, Repository
from schemas import catalog
from schemas.errors import ConflictError, EntityValidationError, NotFoundError
from schemas.tables import KeyStyle
from schemas.wire.dynamodb import (
    deserialize_item,
    format_timestamp,
    from_dynamo,
    serialize_item,
    to_dynamo,
)
from tests.clocks import TickingClock
from tests.factories import ENTITY_NAMES, make_item, make_key
from tests.moto_tables import moto_dynamodb

ENV = "test"
ACTOR = "user:alice"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_dynamodb(monkeypatch, catalog.TABLES, ENV) as ddb:
        yield ddb


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


@pytest.fixture
def repo(client: Any, clock: TickingClock) -> Repository:
    return Repository(client, env=ENV, clock=clock)


def _id_fields(entity: str, item: dict[str, Any]) -> dict[str, Any]:
    spec, table = catalog.entity(entity), catalog.table_of_entity(entity)
    fields = table.key_attrs if table.style is KeyStyle.PLAIN else spec.template_fields()
    return {f: item[f] for f in fields}


# -- create / get ----------------------------------------------------------------------


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_create_then_get_round_trips_every_entity(repo: Repository, clock: TickingClock, entity: str) -> None:
    # GIVEN a valid item of the entity
    values = make_item(entity, 7)
    # WHEN it is created
    created = repo.create(entity, values, actor=ACTOR)
    # THEN the stored item is what create returned, by key string and by id fields
    key = make_key(entity, 7)
    assert repo.get(entity, key) == created
    assert repo.get(entity, _id_fields(entity, values)) == created
    assert catalog.table_of_entity(entity).key_of(created) == key
    # AND it carries the input, version 1 and the audit fields
    assert {k: created[k] for k in values} == values
    assert created["version"] == 1
    assert created["created_at"] == created["updated_at"] == clock.at(1)
    assert created["created_by"] == created["updated_by"] == ACTOR
    assert not any(isinstance(v, Decimal) for v in created.values())
    # AND the stored item is still valid for its model
    spec = catalog.entity(entity)
    spec.model.model_validate({k: v for k, v in created.items() if k in spec.model.model_fields})


def test_create_returns_numbers_as_int_or_float(repo: Repository) -> None:
    created = repo.create("startup_metric", make_item("startup_metric", 1, mrr=10.0, churn_rate=0.1), actor=ACTOR)
    stored = repo.get("startup_metric", make_key("startup_metric", 1))
    assert stored == created
    assert type(stored["mrr"]) is int and stored["mrr"] == 10
    assert type(stored["churn_rate"]) is float and stored["churn_rate"] == 0.1
    assert type(stored["version"]) is int


def test_get_missing_item_is_none(repo: Repository) -> None:
    assert repo.get("startup", "STARTUP#nope|PROFILE") is None


def test_create_duplicate_conflicts_with_the_stored_version(repo: Repository) -> None:
    # GIVEN a stored startup at version 2
    repo.create("startup", make_item("startup", 1), actor=ACTOR)
    repo.update("startup", make_key("startup", 1), {"tagline": "v2"}, actor=ACTOR)
    # WHEN the same key is created again
    with pytest.raises(ConflictError) as err:
        repo.create("startup", make_item("startup", 1, company_name="Other"), actor=ACTOR)
    # THEN the conflict names the key and the stored version, and nothing changed
    assert (err.value.entity, err.value.key) == ("startup", "STARTUP#s1|PROFILE")
    assert (err.value.expected, err.value.actual) == (None, 2)
    assert repo.get("startup", make_key("startup", 1))["company_name"] == "Startup 1"


def test_datetimes_are_stored_in_one_utc_format(repo: Repository) -> None:
    # GIVEN a key timestamp with an offset and no fraction, and a clock not in UTC
    plus2 = timezone(timedelta(hours=2))
    repo._clock = lambda: datetime(2026, 3, 1, 14, 0, tzinfo=plus2)
    values = make_item("activity", 1, timestamp="2026-01-02T05:04:05+02:00")
    # WHEN it is created
    created = repo.create("activity", values, actor=ACTOR)
    # THEN every datetime is UTC with six fractional digits, the key included
    assert created["timestamp"] == "2026-01-02T03:04:05.000000Z"
    assert created["SK"] == "ACTIVITY#2026-01-02T03:04:05.000000Z#a1"
    assert created["created_at"] == "2026-03-01T12:00:00.000000Z"
    # AND the id-field key form normalises the same way
    key = {"startup_id": "s1", "timestamp": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "activity_id": "a1"}
    assert repo.get("activity", key) == created


# -- validation ----------------------------------------------------------------------------


def test_invalid_field_on_create_names_entity_key_and_field(repo: Repository) -> None:
    with pytest.raises(EntityValidationError) as err:
        repo.create("startup", make_item("startup", 3, sse_score=101), actor=ACTOR)
    assert (err.value.entity, err.value.key, err.value.fields) == ("startup", "STARTUP#s3|PROFILE", ["sse_score"])
    assert "startup" in str(err.value) and "STARTUP#s3|PROFILE" in str(err.value)
    assert "sse_score" in str(err.value)
    assert repo.get("startup", make_key("startup", 3)) is None


def test_invalid_nested_field_on_create_gives_dotted_path(repo: Repository) -> None:
    values = make_item("startup", 3)
    values["company_details"] = {**values["company_details"], "incorporation_date": "not-a-date"}
    with pytest.raises(EntityValidationError) as err:
        repo.create("startup", values, actor=ACTOR)
    assert err.value.fields == ["company_details.incorporation_date"]
    assert "company_details.incorporation_date" in str(err.value)


def test_invalid_key_field_on_create_reports_new_key(repo: Repository) -> None:
    with pytest.raises(EntityValidationError) as err:
        repo.create("activity", make_item("activity", 1, timestamp="yesterday"), actor=ACTOR)
    assert err.value.key == "<new>"
    assert err.value.fields == ["timestamp"]


def test_every_invalid_field_is_reported(repo: Repository) -> None:
    values = make_item("user", 1, email="not-an-email", user_type="pirate")
    del values["full_name"]
    with pytest.raises(EntityValidationError) as err:
        repo.create("user", values, actor=ACTOR)
    assert sorted(err.value.fields) == ["email", "full_name", "user_type"]


def test_unknown_attribute_is_rejected_on_create(repo: Repository) -> None:
    with pytest.raises(EntityValidationError) as err:
        repo.create("startup", make_item("startup", 1, compnay_name="typo"), actor=ACTOR)
    assert err.value.errors == [("compnay_name", "unknown attribute")]


@pytest.mark.parametrize("field", ["version", "created_at", "updated_by", "deleted_at", "PK"])
def test_create_refuses_managed_fields(repo: Repository, field: str) -> None:
    with pytest.raises(EntityValidationError) as err:
        repo.create("startup", {**make_item("startup", 1), field: "x"}, actor=ACTOR)
    assert err.value.fields == [field]
    assert err.value.key == "STARTUP#s1|PROFILE"


def test_numbers_dynamodb_cannot_store_are_validation_errors(repo: Repository) -> None:
    values = make_item("startup_metric", 1, nrr=math.inf, cac=1e200, total_customers=10**40)
    with pytest.raises(EntityValidationError) as err:
        repo.create("startup_metric", values, actor=ACTOR)
    assert sorted(err.value.fields) == ["cac", "nrr", "total_customers"]
    assert err.value.key == "STARTUP#s1|METRICS#2026-01-03"


def test_invalid_field_on_update_names_entity_key_and_field(repo: Repository) -> None:
    # GIVEN a stored startup
    repo.create("startup", make_item("startup", 2), actor=ACTOR)
    key = make_key("startup", 2)
    # WHEN an update makes a top-level and a nested field invalid
    with pytest.raises(EntityValidationError) as err:
        repo.update(
            "startup", key, {"stage": "Series Z", "company_details": {"incorporation_date": "2026-13-45"}}, actor=ACTOR
        )
    # THEN both are named with the item key, and the item is unchanged
    assert err.value.key == "STARTUP#s2|PROFILE"
    assert sorted(err.value.fields) == ["company_details.incorporation_date", "stage"]
    assert "company_details.incorporation_date" in str(err.value)
    assert repo.get("startup", key)["version"] == 1


def test_unknown_attribute_is_rejected_on_update(repo: Repository) -> None:
    repo.create("startup", make_item("startup", 2), actor=ACTOR)
    with pytest.raises(EntityValidationError) as err:
        repo.update("startup", make_key("startup", 2), {"colour": "red"}, actor=ACTOR)
    assert err.value.errors == [("colour", "unknown attribute")]


@pytest.mark.parametrize("field", ["version", "updated_at", "created_by", "deleted_reason", "PK", "SK"])
def test_update_refuses_audit_fields_and_key_attributes(repo: Repository, field: str) -> None:
    repo.create("startup", make_item("startup", 2), actor=ACTOR)
    with pytest.raises(EntityValidationError) as err:
        repo.update("startup", make_key("startup", 2), {field: "x"}, actor=ACTOR)
    assert err.value.fields == [field]


def test_update_refuses_to_change_a_key_field_but_accepts_the_same_value(repo: Repository) -> None:
    repo.create("startup", make_item("startup", 2), actor=ACTOR)
    key = make_key("startup", 2)
    with pytest.raises(EntityValidationError) as err:
        repo.update("startup", key, {"startup_id": "s99"}, actor=ACTOR)
    assert err.value.fields == ["startup_id"]
    assert "cannot be changed" in str(err.value)
    updated = repo.update("startup", key, {"startup_id": "s2", "tagline": "same id"}, actor=ACTOR)
    assert updated["tagline"] == "same id"


# -- update ----------------------------------------------------------------------------------


def test_update_bumps_version_and_updated_fields_only(repo: Repository, clock: TickingClock) -> None:
    # GIVEN a stored user
    created = repo.create("user", make_item("user", 4), actor=ACTOR)
    key = make_key("user", 4)
    # WHEN two fields change, one of them a reserved word ("status")
    updated = repo.update("user", key, {"status": "suspended", "job_title": "CTO"}, actor="user:bob")
    # THEN the version and updated_* moved, created_* and every other field did not
    assert updated["version"] == 2
    assert updated["updated_at"] == clock.at(2) and updated["updated_by"] == "user:bob"
    assert (updated["created_at"], updated["created_by"]) == (created["created_at"], ACTOR)
    assert updated["status"] == "suspended" and updated["job_title"] == "CTO"
    unchanged = set(created) - {"status", "job_title", "version", "updated_at", "updated_by"}
    assert {k: updated[k] for k in unchanged} == {k: created[k] for k in unchanged}
    assert repo.get("user", key) == updated


def test_update_with_the_right_expected_version(repo: Repository) -> None:
    repo.create("notification", make_item("notification", 1), actor=ACTOR)
    key = make_key("notification", 1)
    updated = repo.update("notification", key, {"read": True, "ttl": 123}, actor=ACTOR, expected_version=1)
    assert (updated["version"], updated["read"], updated["ttl"]) == (2, True, 123)


def test_stale_expected_version_conflicts_and_writes_nothing(repo: Repository) -> None:
    # GIVEN a startup at version 2
    repo.create("startup", make_item("startup", 1), actor=ACTOR)
    key = make_key("startup", 1)
    repo.update("startup", key, {"tagline": "v2"}, actor=ACTOR)
    # WHEN a writer still holding version 1 updates
    with pytest.raises(ConflictError) as err:
        repo.update("startup", key, {"tagline": "stale"}, actor=ACTOR, expected_version=1)
    # THEN it is told both versions, and the stored item is untouched
    assert (err.value.expected, err.value.actual, err.value.key) == (1, 2, "STARTUP#s1|PROFILE")
    stored = repo.get("startup", key)
    assert (stored["tagline"], stored["version"]) == ("v2", 2)


class _InterleavingClient:
    """Runs ``interleave`` just before the first UpdateItem: another writer wins the race
    after our read and before our conditional write."""

    def __init__(self, real: Any, interleave: Any, *, strip_item: bool = False) -> None:
        self._real, self._interleave, self._strip = real, interleave, strip_item
        self.get_calls = 0

    def get_item(self, **kwargs: Any) -> Any:
        self.get_calls += 1
        return self._real.get_item(**kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        if self._interleave is not None:
            interleave, self._interleave = self._interleave, None
            interleave()
        try:
            return self._real.update_item(**kwargs)
        except ClientError as exc:
            if self._strip:  # a client that does not hand the old item back
                exc.response.pop("Item", None)
            raise


@pytest.mark.parametrize("strip_item", [False, True], ids=["item-in-error", "get-fallback"])
def test_concurrent_updates_with_the_same_version_second_loses(
    client: Any, clock: TickingClock, strip_item: bool
) -> None:
    # GIVEN a startup at version 1 and two writers who both read version 1
    Repository(client, env=ENV, clock=clock).create("startup", make_item("startup", 1), actor=ACTOR)
    key = make_key("startup", 1)
    winner = Repository(client, env=ENV, clock=clock)
    racing = _InterleavingClient(
        client,
        lambda: winner.update("startup", key, {"tagline": "first"}, actor="a", expected_version=1),
        strip_item=strip_item,
    )
    loser = Repository(racing, env=ENV, clock=clock)
    # WHEN the second writes after the first already did
    with pytest.raises(ConflictError) as err:
        loser.update("startup", key, {"tagline": "second"}, actor="b", expected_version=1)
    # THEN the second loses, told the version that beat it
    assert (err.value.expected, err.value.actual) == (1, 2)
    assert racing.get_calls == (2 if strip_item else 1)
    stored = winner.get("startup", key)
    assert (stored["tagline"], stored["version"], stored["updated_by"]) == ("first", 2, "a")


def test_item_deleted_during_update_is_not_found(client: Any, clock: TickingClock) -> None:
    repo = Repository(client, env=ENV, clock=clock)
    repo.create("startup", make_item("startup", 1), actor=ACTOR)
    key = make_key("startup", 1)
    racing = Repository(
        _InterleavingClient(client, lambda: repo.delete("startup", key, actor="x")), env=ENV, clock=clock
    )
    with pytest.raises(NotFoundError):
        racing.update("startup", key, {"tagline": "gone"}, actor=ACTOR)
    assert repo.get("startup", key) is None  # the update did not upsert it back


def test_update_of_missing_item_is_not_found(repo: Repository) -> None:
    with pytest.raises(NotFoundError) as err:
        repo.update("startup", "STARTUP#ghost|PROFILE", {"tagline": "x"}, actor=ACTOR)
    assert "STARTUP#ghost|PROFILE" in str(err.value)
    assert repo.get("startup", "STARTUP#ghost|PROFILE") is None


def test_setting_a_field_to_none_removes_it(repo: Repository) -> None:
    repo.create("startup", make_item("startup", 1), actor=ACTOR)
    key = make_key("startup", 1)
    updated = repo.update("startup", key, {"tagline": None, "company_details": None}, actor=ACTOR)
    assert "tagline" not in updated and "company_details" not in updated
    assert updated["version"] == 2
    assert "tagline" not in repo.get("startup", key)


def test_setting_a_defaulted_field_to_none_resets_it_to_its_default(repo: Repository) -> None:
    repo.create("user", make_item("user", 1, status="suspended"), actor=ACTOR)
    updated = repo.update("user", make_key("user", 1), {"status": None}, actor=ACTOR)
    assert updated["status"] == "active"


def test_setting_a_required_field_to_none_is_invalid(repo: Repository) -> None:
    repo.create("startup", make_item("startup", 1), actor=ACTOR)
    with pytest.raises(EntityValidationError) as err:
        repo.update("startup", make_key("startup", 1), {"industry": None}, actor=ACTOR)
    assert err.value.fields == ["industry"]


def test_update_replaces_a_nested_map_whole(repo: Repository) -> None:
    repo.create("startup", make_item("startup", 1), actor=ACTOR)
    updated = repo.update(
        "startup",
        make_key("startup", 1),
        {"company_details": {"legal_name": "New Ltd", "founded_date": "2020-05-01"}},
        actor=ACTOR,
    )
    assert updated["company_details"] == {"legal_name": "New Ltd", "founded_date": "2020-05-01"}


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("entity", ["startup_metric", "member", "assistant_document", "assistant_user"])
def test_key_as_string_id_fields_or_key_attributes(repo: Repository, entity: str) -> None:
    created = repo.create(entity, make_item(entity, 5), actor=ACTOR)
    table = catalog.table_of_entity(entity)
    by_attrs = {a: created[a] for a in table.key_attrs}
    by_fields = _id_fields(entity, created)
    for key in (make_key(entity, 5), by_attrs, by_fields):
        assert repo.get(entity, key) == created
    updated = repo.update(entity, by_fields, {}, actor=ACTOR)
    assert updated["version"] == 2


def test_key_of_another_entity_in_the_same_table_is_refused(repo: Repository) -> None:
    repo.create("member", make_item("member", 1), actor=ACTOR)
    with pytest.raises(EntityValidationError) as err:
        repo.get("organization", make_key("member", 1))
    assert "member key" in str(err.value)


@pytest.mark.parametrize("key", ["STARTUP#s1", {"startup_id": "s1", "date": "2026-01-01"}, {"PK": "x"}])
def test_malformed_keys_are_refused(repo: Repository, key: Any) -> None:
    with pytest.raises(EntityValidationError):
        repo.get("startup", key)


def test_key_dict_with_invalid_value_names_the_field(repo: Repository) -> None:
    with pytest.raises(EntityValidationError) as err:
        repo.get("startup_metric", {"startup_id": "s1", "date": "someday"})
    assert err.value.fields == ["date"]


# -- soft and hard delete ----------------------------------------------------------------------


def test_soft_delete_sets_the_deleted_fields_and_bumps_version(repo: Repository, clock: TickingClock) -> None:
    repo.create("partner", make_item("partner", 1), actor=ACTOR)
    key = make_key("partner", 1)
    deleted = repo.soft_delete("partner", key, actor="admin", reason="contract ended", expected_version=1)
    assert deleted["deleted_at"] == deleted["updated_at"] == clock.at(2)
    assert (deleted["deleted_by"], deleted["deleted_reason"], deleted["updated_by"]) == (
        "admin",
        "contract ended",
        "admin",
    )
    assert deleted["version"] == 2
    assert repo.get("partner", key) == deleted


def test_soft_delete_with_stale_version_conflicts(repo: Repository) -> None:
    repo.create("partner", make_item("partner", 1), actor=ACTOR)
    key = make_key("partner", 1)
    repo.update("partner", key, {"tier": "Gold"}, actor=ACTOR)
    with pytest.raises(ConflictError) as err:
        repo.soft_delete("partner", key, actor="admin", reason="r", expected_version=1)
    assert (err.value.expected, err.value.actual) == (1, 2)
    assert "deleted_at" not in repo.get("partner", key)


def test_soft_delete_of_missing_item_is_not_found(repo: Repository) -> None:
    with pytest.raises(NotFoundError):
        repo.soft_delete("partner", "PARTNER#none|META", actor="admin", reason="r")


def test_hard_delete_removes_the_item(repo: Repository) -> None:
    created = repo.create("document", make_item("document", 1), actor=ACTOR)
    key = make_key("document", 1)
    removed = repo.delete("document", key, actor=ACTOR)
    assert removed == created
    assert repo.get("document", key) is None


def test_hard_delete_with_the_right_version(repo: Repository) -> None:
    repo.create("document", make_item("document", 1), actor=ACTOR)
    repo.update("document", make_key("document", 1), {"view_count": 3}, actor=ACTOR)
    removed = repo.delete("document", make_key("document", 1), actor=ACTOR, expected_version=2)
    assert removed["view_count"] == 3
    assert repo.get("document", make_key("document", 1)) is None


def test_hard_delete_with_wrong_version_conflicts_and_keeps_the_item(repo: Repository) -> None:
    repo.create("document", make_item("document", 1), actor=ACTOR)
    key = make_key("document", 1)
    with pytest.raises(ConflictError) as err:
        repo.delete("document", key, actor=ACTOR, expected_version=5)
    assert (err.value.expected, err.value.actual) == (5, 1)
    assert repo.get("document", key) is not None


@pytest.mark.parametrize("expected_version", [None, 1])
def test_hard_delete_of_missing_item_is_not_found(repo: Repository, expected_version: int | None) -> None:
    with pytest.raises(NotFoundError):
        repo.delete("document", "STARTUP#s1|DOCUMENT#none", actor=ACTOR, expected_version=expected_version)


# -- construction and table names ----------------------------------------------------------------


def test_construction_does_no_io() -> None:
    Repository(object(), env="prod")  # a client that would fail on any call


def test_table_name_resolver_places_the_tables(client: Any, clock: TickingClock) -> None:
    spec = catalog.table_of_entity("event")
    client.create_table(**{**create_table_request(spec, ENV), "TableName": "pr-42-events"})
    repo = Repository(client, env=ENV, clock=clock, table_prefix_resolver=lambda table, env: f"pr-42-{table.name}")
    repo.create("event", make_item("event", 1), actor=ACTOR)
    assert client.get_item(
        TableName="pr-42-events", Key=serialize_item(catalog.table_of_entity("event").key_dict(make_key("event", 1)))
    )["Item"]
    assert Repository(client, env=ENV).get("event", make_key("event", 1)) is None


def test_items_written_without_a_version_can_still_be_updated(repo: Repository, client: Any) -> None:
    # GIVEN an item some other writer stored with no version attribute
    item = {"PK": "EVENT#legacy", "SK": "META", **make_item("event", 9, event_id="legacy")}
    client.put_item(TableName=catalog.table_of_entity("event").physical_name(ENV), Item=serialize_item(item))
    # WHEN the repository updates it THEN it starts counting at 1
    assert repo.update("event", "EVENT#legacy|META", {"title": "Now versioned"}, actor=ACTOR)["version"] == 1


def test_audit_fields_are_the_audited_model_fields() -> None:
    assert {
        "version",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "deleted_at",
        "deleted_by",
        "deleted_reason",
    } == AUDIT_FIELDS


# -- dynamo_values ------------------------------------------------------------------------------


def test_to_dynamo_turns_floats_into_decimals_by_their_text_and_drops_none_in_maps() -> None:
    value = {"a": 0.1, "b": [1.5, None, {"c": None, "d": 2}], "e": None, "f": True, "g": 3}
    assert to_dynamo(value) == {"a": Decimal("0.1"), "b": [Decimal("1.5"), None, {"d": 2}], "f": True, "g": 3}
    assert str(to_dynamo(0.1)) == "0.1"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e127, 5e-324, -(10**38)])
def test_to_dynamo_refuses_numbers_dynamodb_cannot_store(bad: float) -> None:
    with pytest.raises(ValueError, match="DynamoDB cannot store"):
        to_dynamo({"x": [bad]})


def test_from_dynamo_gives_plain_numbers_and_sorted_sets() -> None:
    value = {
        "i": Decimal("3"),
        "f": Decimal("2.50"),
        "w": Decimal("2.0"),
        "e": Decimal("1E+2"),
        "ss": {"b", "a"},
        "ns": {Decimal("2"), Decimal("1.5")},
        "l": [Decimal("-0")],
    }
    plain = from_dynamo(value)
    assert plain == {"i": 3, "f": 2.5, "w": 2, "e": 100, "ss": ["a", "b"], "ns": [1.5, 2], "l": [0]}
    assert [type(plain[k]) for k in ("i", "f", "w", "e")] == [int, float, int, int]


def test_format_timestamp_is_fixed_width_utc() -> None:
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 7)) == "2026-01-02T03:04:05.000007Z"
    east = timezone(timedelta(hours=3))
    assert format_timestamp(datetime(2026, 1, 2, 6, 4, 5, tzinfo=east)) == "2026-01-02T03:04:05.000000Z"


_scalars = st.one_of(
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(min_value=-1e125, max_value=1e125).filter(lambda f: f == 0 or abs(f) >= 1e-129),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    item=st.dictionaries(st.text(min_size=1, max_size=6), _values, max_size=5),
    sets=st.dictionaries(st.sampled_from(["ss", "ns"]), st.integers(1, 3), max_size=2),
)
def test_deserialize_item_matches_boto3_deserializer_then_from_dynamo(item: dict, sets: dict) -> None:
    # GIVEN any plain item (plus string and number sets) serialised for the low-level client
    wire = serialize_item(item)
    if "ss" in sets:
        wire["ss"] = {"SS": [f"s{i}" for i in range(sets["ss"])]}
    if "ns" in sets:
        wire["ns"] = {"NS": [str(i / 2) for i in range(sets["ns"])]}
    # THEN the one-pass deserializer agrees with boto3's followed by from_dynamo
    expected = from_dynamo(TypeDeserializer().deserialize({"M": wire}))
    assert deserialize_item(wire) == expected
    # AND plain values survive the round trip (floats are compared by their text)
    back = deserialize_item(serialize_item(item))
    assert back == from_dynamo(to_dynamo({k: v for k, v in item.items() if v is not None}))


def test_deserialize_item_handles_binary() -> None:
    wire = serialize_item({"b": b"\x00\x01", "bs": {b"b", b"a"}})
    assert deserialize_item(wire) == {"b": b"\x00\x01", "bs": [b"a", b"b"]}
