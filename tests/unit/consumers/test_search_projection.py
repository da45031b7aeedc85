"""The search fields (what may be indexed) and the search projection (pure)."""

from __future__ import annotations

import orjson
import pytest

from consumers.projections.mutations import MAX_VERSION
from consumers.projections.search import DeleteDoc, UpsertDoc, document_body, project
from producers.stream_router import to_envelope
from schemas import catalog
from schemas.envelope import Action, Envelope, Source, order_of, version_of_order
from schemas.errors import PoisonRecordError
from schemas.search_fields import (
    OPENSEARCH_ANALYSIS,
    SEARCH_ENTITIES,
    TENANT_FIELD,
    FieldKind,
    by_entity,
    opensearch_mappings,
    opensearch_template_body,
    search_entity,
)
from tests.factories import make_stored_item
from tests.kinesis_records import envelope
from tests.stream_records import stream_record

SEARCHABLE = [s.entity for s in SEARCH_ENTITIES]
NOT_SEARCHABLE = [e for e in catalog.ENTITIES if e not in SEARCHABLE]


def routed(entity: str, n: int = 3, event: str = "INSERT", **overrides) -> Envelope:
    """The envelope the router makes of a stored item (secrets already dropped)."""
    item = make_stored_item(entity, n, **overrides)
    table = catalog.table_of_entity(entity)
    record = stream_record(
        table.physical_name("test"), event, new=item, old=item if event == "MODIFY" else None, key_attrs=table.key_attrs
    )
    return to_envelope(record)


# -- what may be indexed ---------------------------------------------------------------


def test_the_indexed_fields_are_the_ones_users_search_for() -> None:
    # GIVEN the search field lists WHEN read per entity THEN they are the agreed ones
    assert {s.entity: [f.name for f in s.fields] for s in SEARCH_ENTITIES} == {
        "startup": ["company_name", "tagline", "elevator_pitch", "description", "industry", "stage", "sse_score"],
        "document": ["document_name", "document_description", "tags", "document_type"],
        "chatbot_message": ["message_text", "message_intent", "message_sentiment"],
        "event": ["title", "description", "event_type", "tags"],
        "partner": ["name", "description", "category", "offering"],
    }


@pytest.mark.parametrize("spec", SEARCH_ENTITIES, ids=lambda s: s.index)
def test_no_secret_or_personal_field_is_ever_indexed(spec) -> None:
    # GIVEN the catalog's secret and pii paths of the entity
    entity = catalog.entity(spec.entity)
    sensitive = entity.secret + entity.pii
    for field in spec.fields:
        # THEN no indexed field is one of them, nor a parent of one (``company_details``)
        assert not any(p == field.name or p.startswith(field.name + ".") for p in sensitive), field.name
        # AND every indexed field is an attribute of the model (a typo would index nothing)
        assert field.name in entity.model.model_fields


def test_no_field_takes_the_name_of_a_field_the_sinks_add() -> None:
    names = {f.name for s in SEARCH_ENTITIES for f in s.fields}
    assert not names & {TENANT_FIELD, "tombstone"}


@pytest.mark.parametrize("entity", SEARCHABLE)
def test_every_factory_item_fits_the_field_kinds(entity: str) -> None:
    # GIVEN valid items of the entity WHEN their bodies are built THEN the kinds accept them
    for n in range(6):
        body = document_body(by_entity(entity), "t1", make_stored_item(entity, n))
        assert body[TENANT_FIELD] == "t1"


@pytest.mark.parametrize("spec", SEARCH_ENTITIES, ids=lambda s: s.index)
def test_the_opensearch_mapping_is_strict_and_derived_from_the_fields(spec) -> None:
    mapping = opensearch_mappings(spec)
    # THEN unlisted fields are refused by OpenSearch itself, and each field has its kind's type
    assert mapping["dynamic"] == "strict"
    assert set(mapping["properties"]) == {TENANT_FIELD, *(f.name for f in spec.fields)}
    kinds = {f.name: f.kind for f in spec.fields}
    for name, prop in mapping["properties"].items():
        if name == TENANT_FIELD:
            assert prop == {"type": "keyword"}
        elif kinds[name] is FieldKind.TEXT:
            assert prop["type"] == "text" and prop["analyzer"] in OPENSEARCH_ANALYSIS["analyzer"]
        elif kinds[name] is FieldKind.INTEGER:
            assert prop == {"type": "integer"}
        else:  # labels: exact keyword, plus an analysed sub-field free text can match
            assert prop["normalizer"] in OPENSEARCH_ANALYSIS["normalizer"]
            assert prop["fields"]["text"]["analyzer"] in OPENSEARCH_ANALYSIS["analyzer"]


def test_the_template_targets_exactly_its_index_and_carries_the_analysis() -> None:
    body = opensearch_template_body(
        search_entity("startups"), "auxeira-dev-startups", extra={"tombstone": {"type": "boolean"}}
    )
    assert body["index_patterns"] == ["auxeira-dev-startups"] and body["priority"] > 0
    assert body["template"]["settings"]["analysis"] == OPENSEARCH_ANALYSIS
    assert body["template"]["mappings"]["properties"]["tombstone"] == {"type": "boolean"}


def test_search_entities_are_found_by_index_or_entity_name() -> None:
    assert search_entity("startups") is search_entity("startup") is by_entity("startup")
    assert by_entity("activity") is None
    with pytest.raises(KeyError, match="startups, documents"):
        search_entity("spaceships")


# -- the projection ------------------------------------------------------------------------


@pytest.mark.parametrize("entity", SEARCHABLE)
def test_a_created_item_becomes_a_document_of_its_searchable_fields(entity: str) -> None:
    # GIVEN the envelope of a new item, as the router makes it
    event = routed(entity)
    spec = by_entity(entity)
    # WHEN it is projected
    [mutation] = project(event)
    # THEN one document: the entity's index, the item key as id, the event's order
    expected_body = {
        TENANT_FIELD: "t1",
        **{f.name: event.after[f.name] for f in spec.fields if event.after.get(f.name) is not None},
    }
    assert mutation == UpsertDoc(spec.index, event.key, event.order, "t1", expected_body)
    assert version_of_order(mutation.version) == 1


def test_secrets_and_personal_data_never_reach_a_document() -> None:
    # GIVEN a partner with a contact email (pii) and a startup with a tax id (secret)
    partner = routed("partner", 4, description="Cloud credits", offering="$5k credits")
    startup = routed("startup", 4)
    for event, leaked in ((partner, ["partner4@example.com", "key-4"]), (startup, ["TAX-4", "Moi Avenue"])):
        # WHEN projected THEN none of their values is anywhere in the document
        [mutation] = project(event)
        text = orjson.dumps(mutation.body).decode()
        assert not any(value in text for value in leaked)
    assert project(partner)[0].body["offering"] == "$5k credits"


def test_fields_without_a_value_are_left_out() -> None:
    [mutation] = project(routed("startup", 1, tagline=None))
    assert "tagline" not in mutation.body and "description" not in mutation.body


@pytest.mark.parametrize("action", ["soft_deleted", "deleted", "expired"])
def test_every_way_of_leaving_removes_the_document(action: str) -> None:
    # GIVEN a soft delete (the item stays in its table), a delete or a TTL expiry
    after = {"company_name": "Acme", "deleted_at": "2026-01-01T00:00:00Z"}
    event = envelope("STARTUP#s1|PROFILE", 9, action, after=after)
    # WHEN projected THEN the document goes, leaving a delete at the event's order
    assert project(event) == [DeleteDoc("startups", "STARTUP#s1|PROFILE", order_of(9, None), "t1")]


def test_an_update_of_a_soft_deleted_item_keeps_it_out_of_search() -> None:
    # GIVEN an update of an item whose deleted_at is still set
    event = envelope("A", 5, "updated", after={"company_name": "Acme", "deleted_at": "2026-01-01"})
    # THEN it does not bring the item back
    assert project(event) == [DeleteDoc("startups", "A", order_of(5, None), "t1")]
    # AND an update that clears deleted_at (a restore) does
    [mutation] = project(envelope("A", 6, "updated", after={"company_name": "Acme", "deleted_at": None}))
    assert mutation == UpsertDoc("startups", "A", order_of(6, None), "t1", {TENANT_FIELD: "t1", "company_name": "Acme"})


def test_a_published_fact_of_a_searchable_entity_is_indexed() -> None:
    event = envelope("C|M1", 1, "recorded", entity="chatbot_message", after={"message_text": "MRR grew"})
    assert project(event)[0].body == {TENANT_FIELD: "t1", "message_text": "MRR grew"}


@pytest.mark.parametrize("entity", NOT_SEARCHABLE)
def test_entities_that_are_not_searchable_produce_no_mutation(entity: str) -> None:
    assert project(routed(entity)) == []


@pytest.mark.parametrize("entity", ["startup", "activity"])
def test_an_action_search_does_not_know_is_skipped_not_poison(entity: str) -> None:
    assert project(envelope("A", 1, "exploded", entity=entity)) == []


def test_every_known_action_has_a_rule() -> None:
    for action in Action:
        assert len(project(envelope("A", 1, action.value, after={"company_name": "x"}))) == 1


def test_an_upsert_without_after_image_is_poison() -> None:
    event = envelope("A", 1, "updated").model_copy(update={"after": None})
    with pytest.raises(PoisonRecordError, match="no after image"):
        project(event)


def test_the_widest_envelope_order_fits_the_index() -> None:
    widest = envelope("A", 10**20 - 1).model_copy(update={"source": Source(table="t", sequence_number="9" * 40)})
    assert project(widest)[0].version == widest.order == MAX_VERSION


@pytest.mark.parametrize(
    "field,value",
    [
        ("sse_score", "high"),
        ("sse_score", True),
        ("sse_score", 2**31),
        ("company_name", 42),
    ],
)
def test_a_value_of_the_wrong_kind_is_poison_naming_the_field(field: str, value) -> None:
    # GIVEN a value OpenSearch's mapping would refuse
    event = envelope("A", 1, "updated", after={"company_name": "Acme", field: value})
    # THEN both sinks are spared it: the event is poison, and says which field
    with pytest.raises(PoisonRecordError, match=field):
        project(event)


def test_tags_must_be_a_list_of_strings() -> None:
    with pytest.raises(PoisonRecordError, match="tags"):
        project(envelope("D", 1, "created", entity="document", after={"tags": "a,b"}))
    body = project(envelope("D", 1, "created", entity="document", after={"tags": ["a", "b"]}))[0].body
    assert body["tags"] == ["a", "b"]
