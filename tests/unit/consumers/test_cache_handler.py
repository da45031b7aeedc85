"""The cache consumer handler: staged batch, partial failures, poison to the dead-letter store."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from auxeira.runtime.dead_letters import LocalDeadLetters
from auxeira.runtime.observability import StatsObserver
from auxeira.runtime.sinks import APPLIED
from consumers.handlers.cache import build_handler
from consumers.sinks.memory import InMemoryCacheSink
from schemas.envelope import version_of_order
from schemas.errors import RetryableSinkError
from tests.kinesis_records import envelope, kinesis_event, kinesis_record


class FlakySink(InMemoryCacheSink):
    """Fails the first ``failures`` apply calls as if Redis were down."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures
        self.calls = 0

    def apply(self, mutations):
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise RetryableSinkError("redis down")
        return super().apply(mutations)


@pytest.fixture
def dlq(tmp_path):
    return LocalDeadLetters(tmp_path)


def test_a_batch_is_applied_in_one_sink_call(dlq):
    # GIVEN three events for two keys WHEN handled THEN one sink call, latest versions win
    sink = FlakySink(failures=0)
    handle = build_handler(sink, dlq)
    event = kinesis_event(*(kinesis_record(envelope(k, v)) for k, v in [("A", 1), ("B", 1), ("A", 2)]))
    assert handle(event, None) == {"batchItemFailures": []}
    assert sink.calls == 1
    assert version_of_order(sink.get("aux:local:t1:startup:A").version) == 2


def test_poison_goes_to_the_dead_letter_store_with_its_payload_and_the_batch_goes_on(dlq):
    sink = InMemoryCacheSink()
    bad = kinesis_record(b'{"not": "an envelope"}', sequence="77")
    good = kinesis_record(envelope("A", 1))
    response = build_handler(sink, dlq)(kinesis_event(bad, good), None)
    # THEN nothing is reported failed, the good record applied, the bad one stored whole
    assert response == {"batchItemFailures": []}
    assert sink.get("aux:local:t1:startup:A") is not None
    [letter] = list(dlq.list("cache"))
    assert letter.sequence_number == "77"
    assert letter.error_type == "PoisonRecordError"
    assert "event_id" in letter.message
    assert letter.record["kinesis"]["data"] == bad["kinesis"]["data"]


def test_an_event_type_the_cache_does_not_know_is_skipped_and_counted_not_poison(dlq):
    # GIVEN an entity a newer producer sends and an action no one taught the cache
    stats = StatsObserver()
    records = [
        kinesis_record(envelope("A", 1, entity="spaceship")),
        kinesis_record(envelope("A", 1, "archived")),
        kinesis_record(envelope("B", 1)),
    ]
    response = build_handler(InMemoryCacheSink(), dlq, observer=stats)(kinesis_event(*records), None)
    # THEN nothing failed, nothing was dead-lettered, and the two are counted as skipped
    assert response == {"batchItemFailures": []}
    assert list(dlq.list("cache")) == []
    assert (stats.totals["cache"].skipped, stats.totals["cache"].applied) == (2, 1)


def test_sink_down_reports_every_record_for_redelivery(dlq):
    sink = FlakySink(failures=1)
    records = [kinesis_record(envelope("A", 1)), kinesis_record(envelope("B", 1))]
    # WHEN every record fails THEN powertools raises so Lambda retries the batch whole
    with pytest.raises(BatchProcessingError):
        build_handler(sink, dlq)(kinesis_event(*records), None)


def test_partial_failure_reports_the_failed_record_and_later_records_of_its_key(dlq):
    # GIVEN a sink that fails the first item of key A only
    from aws_lambda_powertools.utilities.batch import EventType, process_partial_response

    from auxeira.runtime.batch import Staged, StagedBatchProcessor

    def apply(items):
        first_a = items.index("A")
        return [RetryableSinkError("throttled") if n == first_a else APPLIED for n in range(len(items))]

    def prepare(record):
        return [Staged(record.kinesis.data_as_text(), record.kinesis.data_as_text())]

    records = [kinesis_record(k.encode(), sequence=str(n)) for n, k in enumerate(["A", "B", "A", "C"], 1)]
    processor = StagedBatchProcessor(EventType.KinesisDataStreams, apply=apply, dead_letters=dlq, consumer="t")
    response = process_partial_response(event=kinesis_event(*records), record_handler=prepare, processor=processor)
    # THEN the later A is reported too (so A is redelivered in order); B and C are not
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["1", "3"]


def test_published_occurrences_are_not_cached_but_published_states_are(dlq):
    # GIVEN a page view (an occurrence) and a Stripe MRR sync (a state of a startup)
    sink = InMemoryCacheSink()
    view = envelope("v1", 1, action="recorded", entity="page_view")
    mrr = envelope("STARTUP#s1", 5, action="recorded", entity="stripe_mrr_sync")
    # WHEN both are consumed
    response = build_handler(sink, dlq)(kinesis_event(kinesis_record(view), kinesis_record(mrr)), None)
    # THEN only the state is in the cache, and neither was dead-lettered
    assert response == {"batchItemFailures": []}
    assert sink.get("aux:local:t1:page_view:v1") is None
    assert version_of_order(sink.get("aux:local:t1:stripe_mrr_sync:STARTUP#s1").version) == 5
    assert list(dlq.list("cache")) == []
