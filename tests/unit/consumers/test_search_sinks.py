"""The search sinks: version rules against both, text search against the embedded one,
and the OpenSearch sink's pure parts (bulk actions, bulk item outcomes) and retries.

No OpenSearch server runs here: the OpenSearch sink is exercised against a fake client
that answers the Bulk API with the response shapes of the OpenSearch documentation
(external versions, 409 conflicts, strict mappings). tests/integration/test_opensearch_sink.py
runs the same sink against a real cluster when AUXEIRA_OPENSEARCH_URL is set.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opensearchpy.exceptions import ConflictError, NotFoundError
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.helpers import expand_action
from opensearchpy.serializer import JSONSerializer

from auxeira.runtime.sinks import Erasable, Readable
from consumers.projections.mutations import MAX_VERSION
from consumers.projections.search import DeleteDoc, UpsertDoc, project
from consumers.sinks.search_base import APPLIED, CONFLICT, SearchSink
from consumers.sinks.search_embedded import EmbeddedSearchSink, match_expression, search_db_path
from consumers.sinks.search_opensearch import (
    ORDER_FIELD,
    ORDER_SCRIPT,
    OpenSearchSink,
    bulk_action,
    classify,
    count_body,
    order_text,
    search_body,
)
from schemas.envelope import Envelope, Source
from schemas.errors import PoisonRecordError, RetryableSinkError
from schemas.search_fields import SEARCH_ENTITIES, search_entity


def doc(doc_id: str, version: int, tenant: str = "t1", index: str = "startups", **fields: Any) -> UpsertDoc:
    return UpsertDoc(index, doc_id, version, tenant, {"tenant": tenant, **(fields or {"company_name": doc_id})})


def gone(doc_id: str, version: int, tenant: str = "t1", index: str = "startups") -> DeleteDoc:
    return DeleteDoc(index, doc_id, version, tenant)


# -- a fake OpenSearch client: the Bulk API with external versions and strict mappings ----


class FakeOpenSearch:
    """Just enough of ``opensearchpy.OpenSearch`` for the sink, answering like the docs show.

    ``failures[doc_id]`` is a list of statuses the next bulk items of that id get;
    ``down`` is how many bulk requests fail with a connection error.
    """

    def __init__(self) -> None:
        self.transport = type("Transport", (), {"serializer": JSONSerializer()})()
        self.indices = _FakeIndices()
        self.docs: dict[tuple[str, str], tuple[int, dict]] = {}
        self.failures: dict[str, list[int]] = {}
        self.down = 0
        self.requests: list[list[str]] = []  # ids per bulk request

    def bulk(self, body: str, **_: Any) -> dict[str, Any]:
        if self.down:
            self.down -= 1
            raise OpenSearchConnectionError("N/A", "connection refused", None)
        lines = [orjson.loads(line) for line in body.splitlines() if line]
        items, ids = [], []
        for action, request in zip(lines[::2], lines[1::2]):
            meta = action["update"]
            ids.append(meta["_id"])
            items.append({"update": self._update_one(meta, request)})
        self.requests.append(ids)
        return {"took": 1, "errors": any("error" in i["update"] for i in items), "items": items}

    def _update_one(self, meta: dict, request: dict) -> dict[str, Any]:
        """A scripted upsert, as the sink's ORDER_SCRIPT runs it: replace only on a higher order."""
        assert request["scripted_upsert"] is True and request["upsert"] == {}
        assert request["script"]["source"] == ORDER_SCRIPT
        params = request["script"]["params"]
        source = {**params["doc"], params["field"]: params["order"]}
        index, doc_id = meta["_index"], meta["_id"]
        head = {"_index": index, "_id": doc_id}
        queued = self.failures.get(doc_id)
        if queued:
            status = queued.pop(0)
            kind = "rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
            return {**head, "status": status, "error": {"type": kind, "reason": "busy"}}
        unknown = set(source) - set(self.indices.properties(index))
        if unknown:
            return {
                **head,
                "status": 400,
                "error": {
                    "type": "strict_dynamic_mapping_exception",
                    "reason": f"mapping set to strict, dynamic introduction of [{sorted(unknown)[0]}] is not allowed",
                },
            }
        current = self.docs.get((index, doc_id))
        if current is not None and current[1][params["field"]] >= params["order"]:
            # The script set ctx.op = 'none' (Update API: "result": "noop", status 200).
            return {
                **head,
                "_version": current[0],
                "result": "noop",
                "status": 200,
                "_shards": {"total": 0, "successful": 0, "failed": 0},
            }
        internal = current[0] + 1 if current else 1
        self.docs[(index, doc_id)] = (internal, source)
        return {
            **head,
            "_version": internal,
            "result": "updated" if current else "created",
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "status": 200 if current else 201,
        }

    def get(self, index: str, id: str) -> dict[str, Any]:
        if (index, id) not in self.docs:
            raise NotFoundError(404, "not_found", {"found": False})
        version, source = self.docs[(index, id)]
        # one primary, so the internal version is also the document's sequence number
        head = {"_index": index, "_id": id, "_version": version, "_seq_no": version, "_primary_term": 1}
        return {**head, "found": True, "_source": source}

    def delete(self, index: str, id: str, if_seq_no: int, if_primary_term: int, **_: Any) -> dict[str, Any]:
        """A delete conditional on the sequence number (``if_seq_no`` / ``if_primary_term``)."""
        if (index, id) not in self.docs:
            raise NotFoundError(404, "not_found", {"result": "not_found"})
        if (self.docs[(index, id)][0], 1) != (if_seq_no, if_primary_term):
            raise ConflictError(409, "version_conflict_engine_exception", {})
        del self.docs[(index, id)]
        return {"_index": index, "_id": id, "result": "deleted"}

    def count(self, index: str, body: dict, **_: Any) -> dict[str, int]:
        tenant = body["query"]["bool"]["filter"][0]["term"]["tenant"]
        return {
            "count": sum(
                1
                for (i, _id), (_v, s) in self.docs.items()
                if i == index and s["tenant"] == tenant and not s.get("tombstone")
            )
        }

    def search(self, index: str, body: dict, **_: Any) -> dict[str, Any]:
        """No ranking: the tenant's live documents with any query word in any field."""
        query = body["query"]["bool"]
        words = set(query["must"][0]["multi_match"]["query"].lower().split())
        tenant = query["filter"][0]["term"]["tenant"]
        hits = [
            {"_index": i, "_id": d, "_score": 1.0, "_version": v, "_source": s}
            for (i, d), (v, s) in self.docs.items()
            if i in index.split(",")
            and s["tenant"] == tenant
            and not s.get("tombstone")
            and words & set(" ".join(str(x) for x in s.values()).lower().split())
        ]
        return {"hits": {"total": {"value": len(hits)}, "hits": hits[: body["size"]]}}

    def close(self) -> None:
        pass


class _FakeIndices:
    def __init__(self) -> None:
        self.templates: dict[str, dict] = {}
        self.puts = 0
        self.down = 0

    def put_index_template(self, name: str, body: dict) -> dict:
        if self.down:
            self.down -= 1
            raise OpenSearchConnectionError("N/A", "connection refused", None)
        self.puts += 1
        self.templates[name] = body
        return {"acknowledged": True}

    def properties(self, index: str) -> dict:
        return self.templates[index]["template"]["mappings"]["properties"]

    def refresh(self, **_: Any) -> dict:
        return {}


def opensearch_sink(client: FakeOpenSearch | None = None, **kwargs: Any) -> OpenSearchSink:
    return OpenSearchSink(client or FakeOpenSearch(), env="test", sleep=kwargs.pop("sleep", lambda s: None), **kwargs)


@pytest.fixture(params=["embedded", "opensearch"])
def sink(request: pytest.FixtureRequest, tmp_path) -> Iterator[SearchSink]:
    made = EmbeddedSearchSink(tmp_path / "search.db") if request.param == "embedded" else opensearch_sink()
    yield made
    made.close()


# -- version rules, against both sinks ------------------------------------------------------


def test_a_duplicate_or_older_version_is_a_conflict_never_an_error(sink: SearchSink) -> None:
    # GIVEN a document at version 3
    assert sink.apply([doc("A", 3, company_name="Acme")]) == [APPLIED]
    # WHEN the same version and an older one arrive
    outcomes = sink.apply([doc("A", 3, company_name="Dup"), doc("A", 2, company_name="Old")])
    # THEN both are conflicts (success, counted apart), and version 3 stays
    assert outcomes == [CONFLICT, CONFLICT]
    assert sink.get("startups", "A").body["company_name"] == "Acme"
    assert (sink.stats.applied, sink.stats.conflicts, sink.stats.retries, sink.stats.poison) == (1, 2, 0, 0)


def test_a_batch_applies_in_order_and_the_highest_version_wins(sink: SearchSink) -> None:
    outcomes = sink.apply(
        [doc("A", 1, company_name="v1"), doc("A", 3, company_name="v3"), doc("A", 2, company_name="v2")]
    )
    assert outcomes == [APPLIED, APPLIED, CONFLICT]
    stored = sink.get("startups", "A")
    assert (stored.version, stored.body["company_name"]) == (3, "v3")


def test_a_delete_leaves_a_tombstone_that_a_late_stale_update_cannot_resurrect(sink: SearchSink) -> None:
    # GIVEN a document deleted at version 5
    sink.apply([doc("A", 4), gone("A", 5)])
    assert sink.get("startups", "A").deleted and sink.get("startups", "A").version == 5
    # WHEN an update older than the delete arrives late
    assert sink.apply([doc("A", 4, company_name="zombie")]) == [CONFLICT]
    # THEN the document stays deleted; only a newer version brings it back
    assert sink.get("startups", "A").deleted and sink.count("t1", "startups") == 0
    assert sink.apply([doc("A", 6, company_name="back")]) == [APPLIED]
    assert sink.get("startups", "A").body["company_name"] == "back"


def test_an_erased_items_tombstone_is_forgotten_and_a_live_document_never(sink: SearchSink) -> None:
    """The erase capability (:class:`auxeira.runtime.sinks.Erasable`): only a tombstone goes."""
    assert isinstance(sink, Readable) and isinstance(sink, Erasable)
    sink.apply([doc("A", 4), gone("A", 5), doc("B", 2)])
    assert sink.forget_tombstone("startups", "B") is False  # live: kept as it is
    assert sink.get("startups", "B").body is not None
    assert sink.forget_tombstone("startups", "A") is True
    assert sink.get("startups", "A") is None  # nothing names the erased item any more
    assert sink.forget_tombstone("startups", "A") is False and sink.forget_tombstone("startups", "Z") is False


def test_a_delete_that_arrives_before_its_create_wins(sink: SearchSink) -> None:
    assert sink.apply([gone("A", 2), doc("A", 1)]) == [APPLIED, CONFLICT]
    assert sink.get("startups", "A").deleted


def test_count_is_per_tenant_and_index_and_skips_tombstones(sink: SearchSink) -> None:
    sink.apply(
        [
            doc("A", 1),
            doc("B", 1),
            doc("C", 1, tenant="t2"),
            gone("B", 2),
            doc("D", 1, index="documents", document_name="deck.pdf"),
        ]
    )
    assert (sink.count("t1", "startups"), sink.count("t2", "startup"), sink.count("t1", "documents")) == (1, 1, 1)
    assert sink.get("startups", "nobody") is None


def test_an_unorderable_version_is_poison_for_its_item_alone(sink: SearchSink) -> None:
    outcomes = sink.apply([doc("A", MAX_VERSION + 1), doc("B", 1)])
    assert isinstance(outcomes[0], PoisonRecordError) and outcomes[1] is APPLIED
    assert sink.get("startups", "A") is None and sink.stats.poison == 1


def test_anything_but_a_mutation_is_a_bug(sink: SearchSink) -> None:
    with pytest.raises(TypeError, match="not a search mutation"):
        sink.apply([doc("A", 1), ("A", 1)])  # type: ignore[list-item]


# -- property: any delivery order, with duplicates, ends as the history applied in order ----

_KEYS = {"a": "t1", "b": "t1", "c": "t2"}
_NAMES = ("solar farm", "clinic payments", "carbon credit")
_KINDS = ("created", "updated", "updated_while_deleted", "soft_deleted", "deleted")


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Envelope], list[int], int]:
    """Envelopes of a history (rising versions per key), a delivery order in which each
    arrives at least once and some twice, and a batch size."""
    versions = dict.fromkeys(_KEYS, 0)
    history = []
    for n in range(draw(st.integers(1, 20))):
        key = draw(st.sampled_from(sorted(_KEYS)))
        versions[key] += draw(st.integers(1, 3))
        history.append(_envelope(n, key, versions[key], draw(st.sampled_from(_KINDS)), draw(st.sampled_from(_NAMES))))
    extra = draw(st.lists(st.integers(0, len(history) - 1), max_size=len(history)))
    return history, draw(st.permutations(list(range(len(history))) + extra)), draw(st.integers(1, 8))


def _envelope(n: int, key: str, version: int, kind: str, name: str) -> Envelope:
    action = "updated" if kind == "updated_while_deleted" else kind
    after = (
        None
        if kind == "deleted"
        else {
            "company_name": name,
            "industry": "CleanTech",
            "sse_score": version % 100,
            "deleted_at": "2026-01-01T00:00:00Z" if kind in ("soft_deleted", "updated_while_deleted") else None,
        }
    )
    return Envelope(
        event_id=f"e{n}",
        event_type=f"startup.{action}",
        tenant_id=_KEYS[key],
        entity="startup",
        key=key,
        version=version,
        source=Source(table="auxeira-startups-test"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        after=after,
    )


def index_state(sink: SearchSink, searchable: bool) -> tuple:
    """Everything that must converge: each id's version/tombstone/body, counts, and hits."""
    docs = tuple((k, (d.version, d.deleted, d.body) if (d := sink.get("startups", k)) else None) for k in _KEYS)
    counts = tuple(sink.count(t, "startups") for t in ("t1", "t2"))
    hits = (
        tuple(sorted(h.doc_id for t in ("t1", "t2") for h in sink.search("solar clinic carbon", t)))
        if searchable
        else ()
    )
    return docs, counts, hits


@pytest.mark.parametrize("kind", ["embedded", "opensearch"])
def test_any_delivery_order_with_duplicates_ends_in_the_in_order_state(kind: str) -> None:
    def fresh() -> SearchSink:
        return EmbeddedSearchSink(":memory:") if kind == "embedded" else opensearch_sink()

    @settings(max_examples=150, deadline=None)
    @given(deliveries())
    def check(case: tuple[list[Envelope], list[int], int]) -> None:
        history, order, batch_size = case
        in_order, shuffled = fresh(), fresh()
        # GIVEN the history applied once, in order, one event per batch
        for event in history:
            in_order.apply(project(event))
        # WHEN it is delivered shuffled, with duplicates, in batches
        delivered = [m for i in order for m in project(history[i])]
        for start in range(0, len(delivered), batch_size):
            shuffled.apply(delivered[start : start + batch_size])
        # THEN the index is the same: documents, tombstones, versions, counts and hits
        expected = index_state(in_order, kind == "embedded")
        assert index_state(shuffled, kind == "embedded") == expected
        # AND it is the last event of each key: its tombstone, or its document
        for key, stored in expected[0]:
            last = max((e for e in history if e.key == key), key=lambda e: e.order, default=None)
            assert (stored is None) == (last is None)
            if last is not None:
                removed = last.after is None or last.after.get("deleted_at") is not None
                assert stored[:2] == (last.order, removed)

    check()


# -- the embedded sink: text search, files, transactions ---------------------------------------


@pytest.fixture
def embedded(tmp_path) -> Iterator[EmbeddedSearchSink]:
    made = EmbeddedSearchSink(tmp_path / "search.db")
    yield made
    made.close()


STARTUPS = [
    doc("S1", 1, company_name="SunHarvest", tagline="Solar pumps for smallholder farmers", industry="AgriTech"),
    doc("S2", 1, company_name="ClinicPay", tagline="Payments for rural clinics", industry="FinTech"),
    doc("S3", 1, company_name="CarbonLedger", tagline="Carbon credit accounting", industry="CleanTech"),
]


def test_search_ranks_the_document_that_matches_best_first(embedded: EmbeddedSearchSink) -> None:
    embedded.apply(STARTUPS)
    # WHEN searching words of one startup (stemmed: "payment" finds "Payments")
    hits = embedded.search("clinic payment", "t1")
    # THEN that startup comes first, with its version and body
    assert hits[0].doc_id == "S2" and hits[0].version == 1 and hits[0].body["company_name"] == "ClinicPay"
    assert [h.doc_id for h in embedded.search("farmers solar", "t1")][:1] == ["S1"]
    assert hits[0].score >= hits[-1].score


def test_a_name_match_outranks_a_description_match(embedded: EmbeddedSearchSink) -> None:
    embedded.apply(
        [
            doc("N", 1, company_name="Mango Logistics", description="trucks and routes"),
            doc("D", 1, company_name="Fruit Routes", description="we ship mango and papaya"),
        ]
    )
    assert [h.doc_id for h in embedded.search("mango", "t1")] == ["N", "D"]


def test_a_tenant_never_sees_another_tenants_documents(embedded: EmbeddedSearchSink) -> None:
    # GIVEN the same words in two tenants' documents
    embedded.apply([doc("A", 1, company_name="Solar One"), doc("B", 1, tenant="t2", company_name="Solar Two")])
    # THEN each tenant's search and count see their own only
    assert [h.doc_id for h in embedded.search("solar", "t1")] == ["A"]
    assert [h.tenant for h in embedded.search("solar", "t2")] == ["t2"]
    assert embedded.search("solar", "t3") == []


def test_search_covers_every_index_or_the_one_asked_for(embedded: EmbeddedSearchSink) -> None:
    embedded.apply(
        [
            doc("S", 1, company_name="Solar Co"),
            doc("D", 1, index="documents", document_name="solar plan.pdf", tags=["solar", "deck"]),
            doc("E", 1, index="events", title="Solar demo day", tags=["pitch"]),
        ]
    )
    assert {h.index for h in embedded.search("solar", "t1")} == {"startups", "documents", "events"}
    assert [h.doc_id for h in embedded.search("solar", "t1", "documents")] == ["D"]
    assert [h.doc_id for h in embedded.search("deck", "t1", "document")] == ["D"]  # tags are searchable
    with pytest.raises(KeyError):
        embedded.search("solar", "t1", "spaceships")


def test_deleted_and_replaced_text_is_no_longer_found(embedded: EmbeddedSearchSink) -> None:
    embedded.apply(STARTUPS)
    embedded.apply([gone("S1", 2), doc("S2", 2, company_name="ClinicPay", tagline="Insurance for clinics")])
    assert embedded.search("solar", "t1") == []
    assert embedded.search("payments", "t1") == []
    assert [h.doc_id for h in embedded.search("insurance", "t1")] == ["S2"]


def test_user_text_is_searched_never_parsed_as_fts5_syntax(embedded: EmbeddedSearchSink) -> None:
    embedded.apply(STARTUPS)
    assert match_expression('solar" OR NEAR(x -y') == '"solar" OR "OR" OR "NEAR" OR "x" OR "y"'
    assert [h.doc_id for h in embedded.search('solar" AND -(', "t1")] == ["S1"]
    assert embedded.search("  ?! ", "t1") == [] and match_expression("") is None


def test_the_index_is_one_file_under_the_lake_root_and_survives_a_reopen(tmp_path) -> None:
    # GIVEN documents written through one sink
    first = EmbeddedSearchSink.for_lake(tmp_path)
    first.apply([*STARTUPS, gone("S3", 2)])
    first.close()
    assert search_db_path(tmp_path) == tmp_path / "search" / "local" / "search.db" and search_db_path(tmp_path).exists()
    assert search_db_path(tmp_path, "prod") != search_db_path(tmp_path, "dev")
    # WHEN another opens the file THEN it finds the same documents and tombstones
    second = EmbeddedSearchSink.for_lake(tmp_path)
    assert [h.doc_id for h in second.search("clinics", "t1")] == ["S2"]
    assert second.apply([doc("S3", 1)]) == [CONFLICT]
    with pytest.raises(ValueError, match="local lake root"):
        search_db_path("s3://bucket/lake")


def test_nothing_is_built_before_first_use(tmp_path) -> None:
    EmbeddedSearchSink.for_lake(tmp_path)
    assert not (tmp_path / "search").exists()


class _CrashingSink(EmbeddedSearchSink):
    """Dies after writing the batch's rows, before its commit."""

    def _write(self, conn, changed, stored) -> None:
        super()._write(conn, changed, stored)
        raise sqlite3.OperationalError("disk I/O error")


def test_a_crash_inside_a_batch_leaves_no_document_without_its_version(tmp_path) -> None:
    path = tmp_path / "search.db"
    healthy = EmbeddedSearchSink(path)
    healthy.apply(STARTUPS)
    # WHEN a batch dies between its writes and its commit
    with pytest.raises(RetryableSinkError, match="disk I/O"):
        _CrashingSink(path).apply([doc("S1", 2, company_name="Renamed"), gone("S2", 2), doc("S9", 1)])
    # THEN none of it is visible: not the rows, not the text, not the versions
    assert healthy.get("startups", "S1").version == 1 and healthy.get("startups", "S9") is None
    assert [h.doc_id for h in healthy.search("clinics", "t1")] == ["S2"]
    assert healthy.search("renamed", "t1") == []
    # AND delivering the batch again applies all of it
    assert healthy.apply([doc("S1", 2, company_name="Renamed"), gone("S2", 2)]) == [APPLIED, APPLIED]


def test_a_locked_database_is_retryable(tmp_path) -> None:
    path = tmp_path / "search.db"
    EmbeddedSearchSink(path).apply(STARTUPS)
    # GIVEN another writer holding the write lock
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        # WHEN a batch cannot get it in time THEN the whole batch is retryable, nothing applied
        with pytest.raises(RetryableSinkError, match="locked"):
            EmbeddedSearchSink(path, busy_timeout_ms=20).apply([doc("S1", 2)])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert EmbeddedSearchSink(path).get("startups", "S1").version == 1


def test_the_text_index_is_rebuilt_when_the_field_layout_changes(tmp_path) -> None:
    path = tmp_path / "search.db"
    EmbeddedSearchSink(path).apply(STARTUPS)
    # GIVEN a file whose text tables were built for another layout (and lost their rows)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE meta SET value = 'older layout' WHERE name = 'layout'")
    conn.execute("DROP TABLE fts_startups")
    conn.execute("CREATE VIRTUAL TABLE fts_startups USING fts5(company_name, content='')")
    conn.close()
    # WHEN it is opened THEN the text tables are rebuilt from the stored documents
    assert [h.doc_id for h in EmbeddedSearchSink(path).search("carbon", "t1")] == ["S3"]


# -- OpenSearch: pure parts --------------------------------------------------------------------


def test_an_upsert_becomes_a_scripted_upsert_carrying_its_order() -> None:
    action = bulk_action(doc("STARTUP#1|PROFILE", 7, company_name="Acme"), "dev")
    params = {"field": ORDER_FIELD, "order": order_text(7), "doc": {"tenant": "t1", "company_name": "Acme"}}
    assert action == {
        "_op_type": "update",
        "_index": "auxeira-dev-startups",
        "_id": "STARTUP#1|PROFILE",
        "retry_on_conflict": 3,
        "script": {"source": ORDER_SCRIPT, "lang": "painless", "params": params},
        "scripted_upsert": True,
        "upsert": {},
    }
    assert len(params["order"]) == 60
    # AND the client helper turns it into exactly this action line and request body
    assert expand_action(action) == (
        {"update": {"_index": "auxeira-dev-startups", "_id": "STARTUP#1|PROFILE", "retry_on_conflict": 3}},
        {
            "script": {"source": ORDER_SCRIPT, "lang": "painless", "params": params},
            "scripted_upsert": True,
            "upsert": {},
        },
    )


def test_a_delete_becomes_a_tombstone_document_with_its_order() -> None:
    # A bulk delete would forget its order; a tombstone document keeps it for good.
    action = bulk_action(gone("A", 9, tenant="t2", index="events"), "prod")
    assert action["_op_type"] == "update" and action["_index"] == "auxeira-prod-events"
    params = action["script"]["params"]
    assert params["doc"] == {"tenant": "t2", "tombstone": True} and params["order"] == order_text(9)


def test_orders_beyond_a_java_long_are_written_and_compared_as_text() -> None:
    # GIVEN an order of 60 digits, far beyond external versioning's long
    sink = opensearch_sink()
    big = 10**59 + 5
    assert sink.apply([doc("A", big, company_name="new"), doc("A", big - 1, company_name="old")]) == [APPLIED, CONFLICT]
    assert sink.get("startups", "A").version == big
    assert isinstance(bulk_action(doc("x" * 513, 1), "dev"), PoisonRecordError)


def _item(status: Any, error: Any = None, op: str = "index", **extra: Any) -> dict[str, Any]:
    info = {"_index": "auxeira-dev-startups", "_id": "A", "status": status, **extra}
    if error is not None:
        info["error"] = error
    return {op: info}


@pytest.mark.parametrize(
    "item,expected",
    [
        pytest.param(_item(201, result="created", _version=1), APPLIED, id="201-created"),
        pytest.param(_item(200, result="updated", _version=2), APPLIED, id="200-updated"),
        pytest.param(_item(200, op="update", result="noop", _version=3), CONFLICT, id="200-noop-stale"),
        pytest.param(
            _item(409, {"type": "version_conflict_engine_exception", "reason": "retry_on_conflict exhausted"}),
            RetryableSinkError,
            id="409-conflicts-left",
        ),
        pytest.param(_item(404, op="delete", result="not_found", _version=1), APPLIED, id="404-delete-not-found"),
        pytest.param(
            _item(429, {"type": "rejected_execution_exception", "reason": "queue full"}), RetryableSinkError, id="429"
        ),
        pytest.param(
            _item(503, {"type": "unavailable_shards_exception", "reason": "primary shard is not active"}),
            RetryableSinkError,
            id="503",
        ),
        pytest.param(_item(500, {"type": "exception", "reason": "boom"}), RetryableSinkError, id="500"),
        pytest.param(
            _item(403, {"type": "cluster_block_exception", "reason": "index read-only"}),
            RetryableSinkError,
            id="403-read-only",
        ),
        pytest.param(
            _item(404, {"type": "index_not_found_exception", "reason": "no such index"}),
            RetryableSinkError,
            id="404-no-index",
        ),
        pytest.param(
            _item("N/A", "ConnectionError(refused)", exception=OSError()), RetryableSinkError, id="request-failed"
        ),
        pytest.param(
            _item(400, {"type": "mapper_parsing_exception", "reason": "failed to parse [sse_score]"}),
            PoisonRecordError,
            id="400-mapper-parsing",
        ),
        pytest.param(
            _item(400, {"type": "strict_dynamic_mapping_exception", "reason": "strict"}),
            PoisonRecordError,
            id="400-strict-mapping",
        ),
        pytest.param(
            _item(400, {"type": "illegal_argument_exception", "reason": "bad"}),
            PoisonRecordError,
            id="400-illegal-argument",
        ),
    ],
)
def test_bulk_items_are_classified_as_the_documentation_shapes_them(item, expected) -> None:
    outcome = classify(item)
    if isinstance(expected, type):
        assert isinstance(outcome, expected)
        assert "auxeira-dev-startups/A" in str(outcome)
    else:
        assert outcome is expected


def test_the_search_request_filters_tenant_and_tombstones_and_boosts_names() -> None:
    body = search_body("solar pumps", "t1", [search_entity("startups")], 5)
    assert body["size"] == 5 and body["version"] is True
    query = body["query"]["bool"]
    assert query["filter"] == [{"term": {"tenant": "t1"}}]
    assert query["must_not"] == [{"term": {"tombstone": True}}]
    fields = query["must"][0]["multi_match"]["fields"]
    assert "company_name^3" in fields and "industry.text^1.5" in fields and "stage.text^1" in fields
    assert not any(f.startswith("sse_score") for f in fields)
    assert count_body("t2")["query"]["bool"]["filter"] == [{"term": {"tenant": "t2"}}]


# -- OpenSearch: the sink against the fake client ------------------------------------------------


def test_templates_are_put_once_on_first_use_and_fit_every_document() -> None:
    client = FakeOpenSearch()
    sink = opensearch_sink(client)
    assert client.indices.puts == 0  # nothing before first use
    sink.apply(
        [
            doc(
                "A",
                1,
                company_name="Acme",
                tagline="t",
                elevator_pitch="p",
                description="d",
                industry="FinTech",
                stage="Seed",
                sse_score=5,
            ),
            gone("B", 1),
        ]
    )
    sink.apply([doc("C", 1)])
    assert client.indices.puts == len(SEARCH_ENTITIES)
    assert set(client.indices.templates) == {f"auxeira-test-{s.index}" for s in SEARCH_ENTITIES}
    assert sink.stats.applied == 3


def test_a_field_the_mapping_does_not_know_is_poison() -> None:
    sink = opensearch_sink()
    outcomes = sink.apply([doc("A", 1, company_name="Acme", email="x@y.z"), doc("B", 1)])
    assert isinstance(outcomes[0], PoisonRecordError) and "strict" in str(outcomes[0])
    assert outcomes[1] is APPLIED


def test_throttled_items_are_retried_with_backoff_and_only_they_are_resent() -> None:
    client, waits = FakeOpenSearch(), []
    client.failures["A"] = [429, 503]
    sink = opensearch_sink(client, sleep=waits.append)
    assert sink.apply([doc("A", 1), doc("B", 1)]) == [APPLIED, APPLIED]
    assert client.requests == [["A", "B"], ["A"], ["A"]]
    # Full jitter: each wait is drawn below a bound that doubles (0.2 s, then 0.4 s).
    assert len(waits) == 2 and 0 <= waits[0] < 0.2 and 0 <= waits[1] < 0.4


def test_an_item_still_throttled_after_the_last_attempt_is_retryable_and_the_rest_applied() -> None:
    client = FakeOpenSearch()
    client.failures["A"] = [429] * 10
    sink = opensearch_sink(client, max_attempts=3)
    outcomes = sink.apply([doc("A", 1), doc("B", 1)])
    assert isinstance(outcomes[0], RetryableSinkError) and outcomes[1] is APPLIED
    assert sink.stats.retries == 1 and len(client.requests) == 3


def test_a_cluster_that_cannot_be_reached_makes_every_item_retryable_without_raising() -> None:
    client = FakeOpenSearch()
    client.down = 10
    outcomes = opensearch_sink(client, max_attempts=2).apply([doc("A", 1), gone("B", 1)])
    assert all(isinstance(o, RetryableSinkError) for o in outcomes)


def test_templates_that_cannot_be_put_fail_the_batch_retryably_and_are_tried_again() -> None:
    client = FakeOpenSearch()
    client.indices.down = 1
    sink = opensearch_sink(client)
    with pytest.raises(RetryableSinkError, match="unavailable"):
        sink.apply([doc("A", 1)])
    assert sink.apply([doc("A", 1)]) == [APPLIED]


def test_search_hits_name_the_short_index_and_carry_versions() -> None:
    sink = opensearch_sink()
    sink.apply(
        [
            doc("A", 4, company_name="Solar One"),
            doc("B", 1, tenant="t2", company_name="Solar Two"),
            doc("D", 2, index="documents", document_name="solar deck"),
            gone("A", 5),
        ]
    )
    sink.apply([doc("C", 1, company_name="Solar Three")])
    hits = sink.search("solar", "t1")
    assert {(h.index, h.doc_id, h.version, h.tenant) for h in hits} == {
        ("startups", "C", 1, "t1"),
        ("documents", "D", 2, "t1"),
    }
    assert [h.doc_id for h in sink.search("solar", "t1", "documents")] == ["D"]
