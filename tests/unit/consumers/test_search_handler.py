"""The search consumer handler: one sink call per batch, poison from the sink to the
dead-letter store, per-key order after a retryable failure, and crash-and-replay."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auxeira.runtime.dead_letters import LocalDeadLetters
from auxeira.runtime.settings import PipelineSettings
from consumers.handlers.search import CONSUMER, build_handler, configured_sink
from consumers.projections.search import SearchMutation
from consumers.sinks.search_base import Outcome, SearchSink
from consumers.sinks.search_embedded import EmbeddedSearchSink
from consumers.sinks.search_opensearch import OpenSearchSink
from schemas.envelope import version_of_order
from schemas.errors import PoisonRecordError, RetryableSinkError
from tests.kinesis_records import envelope, kinesis_event, kinesis_record


class Wrapped(EmbeddedSearchSink):
    """An embedded sink whose outcomes a test can override per batch position."""

    def __init__(self, override=None) -> None:
        super().__init__(":memory:")
        self.calls = 0
        self.override = override or (lambda i, m: None)

    def _apply(self, mutations: Sequence[SearchMutation]) -> list[Outcome]:
        self.calls += 1
        forced = [self.override(i, m) for i, m in enumerate(mutations)]
        real = super()._apply([m for m, f in zip(mutations, forced) if f is None])
        it = iter(real)
        return [f if f is not None else next(it) for f in forced]


def startup(key: str, version: int, action: str = "updated", name: str | None = None, tenant: str = "t1"):
    after = {"company_name": name or f"Solar {key} v{version}", "sse_score": version}
    return envelope(key, version, action, tenant=tenant, after=after)


@pytest.fixture
def dlq(tmp_path) -> LocalDeadLetters:
    return LocalDeadLetters(tmp_path)


def test_a_batch_is_indexed_in_one_sink_call(dlq) -> None:
    sink = Wrapped()
    events = [
        startup("A", 1),
        startup("B", 1),
        startup("A", 2, name="Carbon Ledger"),
        envelope("STARTUP#s1|ACTIVITY#1#a1", 1, "created", entity="activity"),
    ]
    response = build_handler(sink, dlq)(kinesis_event(*(kinesis_record(e) for e in events)), None)
    # THEN nothing failed, one sink call, the latest version of A is what search finds
    assert response == {"batchItemFailures": []}
    assert sink.calls == 1
    assert [h.doc_id for h in sink.search("carbon", "t1")] == ["A"]
    assert version_of_order(sink.get("startups", "A").version) == 2 and sink.count("t1", "startups") == 2


def test_a_document_the_index_refuses_is_dead_lettered_with_its_record(dlq) -> None:
    # GIVEN a sink that refuses B's document (as OpenSearch does on a mapping error)
    sink = Wrapped(lambda i, m: PoisonRecordError("mapper_parsing_exception") if m.doc_id == "B" else None)
    bad = kinesis_record(startup("B", 1), sequence="4242")
    response = build_handler(sink, dlq)(kinesis_event(kinesis_record(startup("A", 1)), bad), None)
    # THEN the batch succeeds, A is indexed, and B's raw record waits in the dead-letter store
    assert response == {"batchItemFailures": []}
    assert sink.get("startups", "A") is not None and sink.get("startups", "B") is None
    [letter] = list(dlq.list(CONSUMER))
    assert (letter.sequence_number, letter.error_type) == ("4242", "PoisonRecordError")
    assert "mapper_parsing_exception" in letter.message
    assert letter.record["kinesis"]["data"] == bad["kinesis"]["data"]


def test_a_dead_letter_that_cannot_be_stored_is_redelivered(tmp_path) -> None:
    class Broken(LocalDeadLetters):
        def put(self, letter) -> None:
            raise OSError("disk full")

    sink = Wrapped(lambda i, m: PoisonRecordError("refused") if m.doc_id == "B" else None)
    records = [kinesis_record(startup("A", 1), sequence="1"), kinesis_record(startup("B", 1), sequence="2")]
    response = build_handler(sink, Broken(tmp_path))(kinesis_event(*records), None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}


def test_an_undecodable_record_is_dead_lettered_under_the_search_consumer(dlq) -> None:
    records = [kinesis_record(b"not json", sequence="9"), kinesis_record(startup("A", 1))]
    assert build_handler(Wrapped(), dlq)(kinesis_event(*records), None) == {"batchItemFailures": []}
    assert [letter.sequence_number for letter in dlq.list("search")] == ["9"]


def test_after_a_retryable_failure_later_records_of_that_key_wait_and_other_keys_go_on(dlq) -> None:
    # GIVEN a sink throttled on A's first item only
    sink = Wrapped(
        lambda i, m: RetryableSinkError("429") if (m.doc_id, version_of_order(m.version)) == ("A", 1) else None
    )
    keys = [("A", 1), ("B", 1), ("A", 2), ("C", 1)]
    records = [kinesis_record(startup(k, v), sequence=str(n)) for n, (k, v) in enumerate(keys, 1)]
    response = build_handler(sink, dlq)(kinesis_event(*records), None)
    # THEN A's two records are reported (redelivered in order); B and C are indexed
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["1", "3"]
    assert sink.get("startups", "B") is not None and sink.get("startups", "C") is not None


# -- crash and replay: fail at record k, deliver the whole batch again, converge ---------------


class FailFrom(EmbeddedSearchSink):
    """Applies the first ``k`` items of its first batch, then fails the rest retryably
    (a sink that died at item k); every later batch goes through."""

    def __init__(self, k: int) -> None:
        super().__init__(":memory:")
        self.k = k
        self.failed = False

    def _apply(self, mutations: Sequence[SearchMutation]) -> list[Outcome]:
        if self.failed:
            return super()._apply(mutations)
        self.failed = True
        head = super()._apply(mutations[: self.k])
        return head + [RetryableSinkError("died") for _ in mutations[self.k :]]


_ACTIONS = ("created", "updated", "soft_deleted", "deleted")


@st.composite
def batches(draw: st.DrawFn):
    versions: dict[str, int] = {}
    events = []
    for _ in range(draw(st.integers(1, 15))):
        key = draw(st.sampled_from(["A", "B", "C"]))
        versions[key] = versions.get(key, 0) + draw(st.integers(1, 2))
        action = draw(st.sampled_from(_ACTIONS))
        after = {
            "company_name": f"Solar {key}",
            "sse_score": versions[key],
            "deleted_at": "2026-01-01" if action == "soft_deleted" else None,
        }
        events.append(envelope(key, versions[key], action, tenant="t1" if key != "C" else "t2", after=after))
    return events, draw(st.integers(0, len(events)))


def state(sink: SearchSink) -> tuple:
    docs = tuple((k, (d.version, d.deleted, d.body) if (d := sink.get("startups", k)) else None) for k in "ABC")
    return (
        docs,
        sink.count("t1", "startups"),
        sink.count("t2", "startups"),
        tuple(h.doc_id for h in sink.search("solar", "t1")),
    )


@settings(max_examples=100, deadline=None)
@given(batches())
def test_a_batch_that_fails_at_record_k_and_is_delivered_again_converges(tmp_path_factory, case) -> None:
    events, k = case
    dlq = LocalDeadLetters(tmp_path_factory.mktemp("dlq"))
    event = kinesis_event(*(kinesis_record(e, sequence=str(n)) for n, e in enumerate(events, 1)))
    # GIVEN the batch applied by a healthy consumer
    clean = EmbeddedSearchSink(":memory:")
    assert build_handler(clean, dlq)(event, None) == {"batchItemFailures": []}
    # WHEN another consumer dies at item k of the same batch
    crashed = FailFrom(k)
    handle = build_handler(crashed, dlq)
    try:
        failures = handle(event, None)["batchItemFailures"]
    except Exception:  # every record failed: powertools raises so Lambda retries the batch
        failures = [{"itemIdentifier": str(n)} for n in range(1, len(events) + 1)]
    # THEN exactly the records from k on are reported for redelivery
    assert sorted(int(f["itemIdentifier"]) for f in failures) == list(range(k + 1, len(events) + 1))
    # AND after the whole batch is delivered again, both indexes are the same
    assert handle(event, None) == {"batchItemFailures": []}
    assert state(crashed) == state(clean)


# -- which sink the settings configure ----------------------------------------------------------


def test_opensearch_is_used_when_its_url_is_set_and_nothing_connects_before_use(tmp_path) -> None:
    sink = configured_sink(
        PipelineSettings(opensearch_url="http://search.invalid:9200", env="qa", lake_root=str(tmp_path))
    )
    assert isinstance(sink, OpenSearchSink) and sink.env == "qa"


def test_the_embedded_index_under_the_lake_root_is_the_default(tmp_path) -> None:
    sink = configured_sink(PipelineSettings(opensearch_url=None, lake_root=str(tmp_path)))
    assert isinstance(sink, EmbeddedSearchSink)
    assert sink.path == str(tmp_path / "search" / "local" / "search.db")


@pytest.mark.parametrize("order", ["move last", "move first"])
def test_an_item_moved_to_another_tenant_is_found_only_in_its_new_tenant(dlq, order) -> None:
    """A tenant move (the before image in t0, the after image in t1) leaves nothing findable in t0,
    whichever of the older t0 change and the move is delivered first."""
    sink = EmbeddedSearchSink(":memory:")
    old = startup("A", 1, name="Helios Grid", tenant="t0")
    moved = startup("A", 2, name="Helios Grid", tenant="t1").model_copy(
        update={"before": {"company_name": "Helios Grid", "tenant_id": "t0"}}
    )
    events = [old, moved] if order == "move last" else [moved, old]
    handler = build_handler(sink, dlq)
    for event in events:
        assert handler(kinesis_event(kinesis_record(event)), None) == {"batchItemFailures": []}
    assert [h.doc_id for h in sink.search("helios", "t1")] == ["A"]
    assert sink.search("helios", "t0") == [] and sink.count("t0", "startups") == 0
    assert version_of_order(sink.get("startups", "A").version) == 2
