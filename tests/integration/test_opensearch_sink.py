"""The OpenSearch sink against a real cluster (``AUXEIRA_OPENSEARCH_URL``), skipped without one.

Each test writes to its own environment name (``auxeira-it{random}-*`` indexes and
templates) and deletes them afterwards, so a shared cluster is left as it was.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from consumers.projections.search import DeleteDoc, UpsertDoc
from consumers.sinks.search_base import APPLIED, CONFLICT
from consumers.sinks.search_opensearch import OpenSearchSink, index_name
from schemas.errors import PoisonRecordError
from schemas.search_fields import SEARCH_ENTITIES

URL = os.environ.get("AUXEIRA_OPENSEARCH_URL")

pytestmark = [
    pytest.mark.opensearch,
    pytest.mark.skipif(not URL, reason="AUXEIRA_OPENSEARCH_URL is not set"),
]


@pytest.fixture
def sink() -> Iterator[OpenSearchSink]:
    env = f"it{uuid.uuid4().hex[:10]}"
    made = OpenSearchSink(url=URL, env=env, backoff_seconds=0.05)
    try:
        yield made
    finally:
        client = made.client
        for spec in SEARCH_ENTITIES:
            name = index_name(env, spec.index)
            client.indices.delete(index=name, ignore_unavailable=True)
            if client.indices.exists_index_template(name=name):
                client.indices.delete_index_template(name=name)
        made.close()


def startup(doc_id: str, version: int, tenant: str = "t1", **fields) -> UpsertDoc:
    return UpsertDoc("startups", doc_id, version, tenant, {"tenant": tenant, **fields})


def test_external_versions_make_duplicates_and_stale_writes_conflicts(sink: OpenSearchSink) -> None:
    assert sink.apply([startup("A", 3, company_name="Acme")]) == [APPLIED]
    assert sink.apply([startup("A", 3, company_name="Dup"), startup("A", 2, company_name="Old")]) == [
        CONFLICT,
        CONFLICT,
    ]
    stored = sink.get("startups", "A")
    assert (stored.version, stored.body["company_name"]) == (3, "Acme")


def test_a_delete_is_a_tombstone_a_stale_update_cannot_pass(sink: OpenSearchSink) -> None:
    sink.apply([startup("A", 4, company_name="Acme"), DeleteDoc("startups", "A", 5, "t1")])
    assert sink.apply([startup("A", 4, company_name="zombie")]) == [CONFLICT]
    assert sink.get("startups", "A").deleted
    sink.refresh()
    assert sink.count("t1", "startups") == 0 and sink.search("acme", "t1") == []


def test_search_ranks_filters_by_tenant_and_entity(sink: OpenSearchSink) -> None:
    sink.apply(
        [
            startup("S1", 1, company_name="SunHarvest", tagline="Solar pumps for farmers", industry="AgriTech"),
            startup("S2", 1, company_name="ClinicPay", tagline="Payments for rural clinics", industry="FinTech"),
            startup("S3", 1, tenant="t2", company_name="Solar Two"),
            UpsertDoc(
                "documents", "D1", 1, "t1", {"tenant": "t1", "document_name": "solar plan.pdf", "tags": ["solar"]}
            ),
        ]
    )
    sink.refresh()
    assert sink.search("clinic payment", "t1")[0].doc_id == "S2"
    assert {h.doc_id for h in sink.search("solar", "t1")} == {"S1", "D1"}
    assert [h.doc_id for h in sink.search("solar", "t1", "documents")] == ["D1"]
    assert [h.doc_id for h in sink.search("agritech", "t1")] == ["S1"]  # labels match case-insensitively
    assert sink.count("t2", "startups") == 1


def test_a_document_the_mapping_refuses_is_poison_and_the_rest_applies(sink: OpenSearchSink) -> None:
    outcomes = sink.apply(
        [startup("A", 1, company_name="Acme", email="leak@example.com"), startup("B", 1, company_name="Fine")]
    )
    assert isinstance(outcomes[0], PoisonRecordError) and outcomes[1] is APPLIED
