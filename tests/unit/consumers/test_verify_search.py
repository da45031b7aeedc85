"""The search drift check: expected documents from table states, compared with a sink."""

from __future__ import annotations

import pytest

from consumers.projections.search import DeleteDoc, UpsertDoc, project
from consumers.sinks.search_embedded import EmbeddedSearchSink
from consumers.verify import Expected, expected_states
from consumers.verify_search import compare_search, expected_search_docs, search_doc_counts
from producers.stream_router import to_envelope
from schemas import catalog
from schemas.envelope import order_of
from tests.factories import make_stored_item
from tests.stream_records import stream_record

ENTITIES = ["startup", "document", "chatbot_message", "event", "partner", "activity", "user"]


def items() -> list[tuple[str, dict]]:
    """Two items of several entities per tenant; the second document is soft-deleted."""
    out = []
    for tenant in ("t1", "t2"):
        for entity in ENTITIES:
            for n in (1, 2):
                item = make_stored_item(entity, n + (10 if tenant == "t2" else 0), tenant)
                if (entity, n) == ("document", 2):
                    item["deleted_at"] = "2026-01-05T00:00:00.000000Z"
                out.append((entity, item))
    return out


def expected() -> list[Expected]:
    return [e for entity, item in items() for e in expected_states(catalog.table_of_entity(entity), [item], wire=False)]


@pytest.fixture
def synced() -> EmbeddedSearchSink:
    """A sink fed the router's envelopes of every item, as the pipeline would."""
    sink = EmbeddedSearchSink(":memory:")
    for entity, item in items():
        table = catalog.table_of_entity(entity)
        record = stream_record(table.physical_name("test"), "INSERT", new=item, key_attrs=table.key_attrs)
        sink.apply(project(to_envelope(record)))
    return sink


def test_only_live_searchable_items_are_expected() -> None:
    docs = expected_search_docs(expected())
    counts = search_doc_counts(docs)
    # THEN activities and users are not searchable, and the soft-deleted document is not expected
    assert counts == {"startups": 4, "documents": 2, "chatbot_messages": 4, "events": 4, "partners": 4}
    assert all("email" not in d.body and "api_key" not in d.body for d in docs)


def test_an_index_fed_by_the_pipeline_matches_the_tables(synced: EmbeddedSearchSink) -> None:
    assert compare_search(expected_search_docs(expected()), synced, ["t1", "t2"]) == []


def test_every_kind_of_drift_is_reported(synced: EmbeddedSearchSink) -> None:
    docs = {d.doc_id: d for d in expected_search_docs(expected())}
    startup, event, partner = (
        next(d for d in docs.values() if d.index == i and d.tenant == "t1") for i in ("startups", "events", "partners")
    )
    message = next(d for d in docs.values() if d.index == "chatbot_messages" and d.tenant == "t2")
    # GIVEN a wrong tombstone, versions the tables never had, a wrong tenant and a ghost document
    V2 = order_of(2, None)
    synced.apply(
        [
            DeleteDoc("startups", startup.doc_id, V2, "t1"),
            UpsertDoc("events", event.doc_id, V2, "t1", {**event.body, "title": "Renamed"}),
            UpsertDoc("partners", partner.doc_id, V2, "t2", {**partner.body, "tenant": "t2"}),
            UpsertDoc("chatbot_messages", message.doc_id, V2, "t2", {**message.body, "message_text": "edited"}),
            UpsertDoc(
                "documents",
                "STARTUP#s2|DOCUMENT#d2",
                order_of(9, None),
                "t1",
                {"tenant": "t1", "document_name": "ghost"},
            ),
        ]
    )
    reasons = {m.key: m.reason for m in compare_search(list(docs.values()), synced, ["t1", "t2"])}
    # THEN each one is named
    assert reasons[startup.label] == "tombstone v2 but the item exists"
    assert reasons[event.label] == "index has v2, table has v1"
    assert "tenant 't2'" in reasons[partner.label]
    assert reasons[message.label] == "index has v2, table has v1"
    assert reasons["search:documents@t1"] == "2 live documents, the tables give 1"
    assert reasons["search:startups@t1"] == "1 live documents, the tables give 2"


def test_a_text_index_that_lost_its_rows_fails_the_probe(synced: EmbeddedSearchSink) -> None:
    synced.conn.execute("INSERT INTO fts_startups (fts_startups) VALUES ('delete-all')")  # text lost, rows kept
    mismatches = compare_search(expected_search_docs(expected()), synced, ["t1"])
    assert any("does not find it" in m.reason and m.key.startswith("search:startups/") for m in mismatches)
