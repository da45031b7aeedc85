"""Store epochs: a store that lost or swapped its state is told apart from one never built."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from auxeira.runtime.dead_letters import LocalDeadLetters
from auxeira.runtime.epochs import (
    EPOCHS_PK,
    Epoch,
    EpochCheck,
    EpochGuard,
    EpochRecords,
    EpochState,
    inspect,
    mark_built,
)
from auxeira.runtime.observability import PowertoolsObserver
from consumers.handlers import cache as cache_handler
from consumers.handlers import counters as counters_handler
from consumers.handlers import search as search_handler
from consumers.sinks.counters_dynamo import DynamoCounterSink
from consumers.sinks.memory import InMemoryCacheSink
from consumers.sinks.redis_cache import RedisCacheSink
from consumers.sinks.search_embedded import EmbeddedSearchSink
from schemas.resources import CHECKPOINTS_TABLE, COUNTERS_TABLE
from tests.kinesis_records import envelope, kinesis_event, kinesis_record
from tests.moto_tables import moto_dynamodb


class Markers:
    """A store's marker, held in memory; ``reads`` counts the checks, ``broken`` fails them."""

    def __init__(self) -> None:
        self.epoch: Epoch | None = None
        self.reads = 0
        self.broken = False

    def read_epoch(self) -> Epoch | None:
        self.reads += 1
        if self.broken:
            raise ConnectionError("store down")
        return self.epoch

    def write_epoch(self, epoch: Epoch, *, only_if_absent: bool = False) -> Epoch:
        if self.epoch is None or not only_if_absent:
            self.epoch = epoch
        return self.epoch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def moto(monkeypatch):
    with moto_dynamodb(monkeypatch, [CHECKPOINTS_TABLE, COUNTERS_TABLE], "t") as client:
        yield client


@pytest.fixture
def records(moto) -> EpochRecords:
    return EpochRecords(moto, CHECKPOINTS_TABLE.physical_name("t"))


def test_each_state_of_marker_and_copy(records):
    markers = Markers()
    # GIVEN nothing anywhere: never built
    assert inspect("cache", markers, records).state is EpochState.UNMARKED
    # WHEN a build is marked: the same epoch in the store and in the checkpoint table
    epoch = mark_built("cache", markers, records, by="backfill")
    assert inspect("cache", markers, records).state is EpochState.OK
    assert records.get("cache") == markers.epoch == epoch and epoch.by == "backfill"
    # WHEN the store loses its state (its marker with it): reset, a problem
    markers.epoch = None
    check = inspect("cache", markers, records)
    assert check.state is EpochState.RESET and check.problem and epoch.id[:12] in check.message
    # WHEN it comes back holding another build: replaced, a problem
    markers.epoch = Epoch.new("elsewhere")
    assert inspect("cache", markers, records).state is EpochState.REPLACED
    # WHEN only the copy is lost: unrecorded, not a problem
    records.client.delete_item(TableName=records.table_name, Key={"PK": {"S": EPOCHS_PK}, "SK": {"S": "cache"}})
    assert not inspect("cache", markers, records).problem
    # WHEN the store cannot be read: unknown, not a problem, never a crash
    markers.broken = True
    unknown = inspect("cache", markers, records)
    assert unknown.state is EpochState.UNKNOWN and not unknown.problem and "store down" in unknown.message


def test_a_rebuild_marks_the_store_built_and_clears_the_reset(records):
    markers = Markers()
    mark_built("search", markers, records, by="first use")
    markers.epoch = None
    assert inspect("search", markers, records).state is EpochState.RESET
    mark_built("search", markers, records, by="replay")
    assert inspect("search", markers, records).state is EpochState.OK


def test_the_guard_marks_a_new_store_once_and_checks_at_most_once_a_minute(records):
    markers, clock, alarms = Markers(), Clock(), []
    guard = EpochGuard("cache", markers, records, alarm=alarms.append, clock=clock)
    # WHEN a consumer meets a store never built
    first = guard.check()
    # THEN it marks it (store and copy agree) and raises no alarm
    assert first.state is EpochState.OK and markers.epoch is not None and records.get("cache") == markers.epoch
    # AND for the next minute it trusts that check
    reads = markers.reads
    clock.now += 59
    assert guard.check() is first and markers.reads == reads
    clock.now += 2
    guard.check()
    assert markers.reads > reads and alarms == []


def test_the_guard_alarms_on_every_check_while_the_store_is_reset_and_never_raises(records):
    markers, clock, alarms = Markers(), Clock(), []
    guard = EpochGuard("cache", markers, records, alarm=alarms.append, clock=clock)
    guard.check()
    markers.epoch = None  # Redis restarted
    for _ in range(3):
        clock.now += 61
        assert guard.check().state is EpochState.RESET
    assert [a.state for a in alarms] == [EpochState.RESET] * 3
    # AND a store that cannot be read is not an alarm (the sink's own retries handle an outage)
    markers.broken = True
    clock.now += 61
    assert guard.check().state is EpochState.UNKNOWN and len(alarms) == 3


def test_two_consumers_meeting_a_new_store_at_once_agree_on_one_epoch(records):
    markers = Markers()
    a, b = EpochGuard("cache", markers, records), EpochGuard("cache", markers, records)
    assert a.check().state is EpochState.OK and b.check().state is EpochState.OK
    assert records.get("cache") == markers.epoch


def test_the_guard_records_the_copy_of_a_marker_whose_copy_was_lost(records):
    markers = Markers()
    markers.epoch = Epoch.new("backfill")
    check = EpochGuard("counters", markers, records).check()
    assert check.state is EpochState.OK and records.get("counters") == markers.epoch


# -- the sinks' markers live with their state -------------------------------------------------


def test_the_redis_marker_is_in_the_namespace_and_under_no_tenant(redis_server):
    namespace = f"ep{uuid.uuid4().hex[:8]}"
    sink = RedisCacheSink(url=redis_server, namespace=namespace)
    try:
        assert sink.read_epoch() is None
        epoch = sink.write_epoch(Epoch.new("first use"), only_if_absent=True)
        assert sink.write_epoch(Epoch.new("other"), only_if_absent=True) == epoch == sink.read_epoch()
        assert sink.epoch_key.startswith(f"aux:{namespace}:") and list(sink.scan_keys("t1")) == []
        replaced = sink.write_epoch(Epoch.new("backfill"))
        assert sink.read_epoch() == replaced != epoch
    finally:
        sink.client.delete(sink.epoch_key)


def test_the_embedded_index_keeps_its_marker_in_its_meta_table():
    sink = EmbeddedSearchSink(":memory:")
    epoch = sink.write_epoch(Epoch.new("first use"), only_if_absent=True)
    assert sink.write_epoch(Epoch.new("other"), only_if_absent=True) == epoch == sink.read_epoch()


def test_the_counters_marker_is_an_item_no_scan_of_counters_returns(moto):
    sink = DynamoCounterSink(moto, COUNTERS_TABLE.physical_name("t"))
    epoch = sink.write_epoch(Epoch.new("first use"), only_if_absent=True)
    assert sink.write_epoch(Epoch.new("other"), only_if_absent=True) == epoch == sink.read_epoch()
    assert list(sink.scan()) == []


def test_the_opensearch_marker_is_a_document_of_its_own_index():
    from opensearchpy.exceptions import ConflictError, NotFoundError

    from consumers.sinks.search_opensearch import OpenSearchSink

    class Client:
        def __init__(self) -> None:
            self.docs: dict[tuple[str, str], dict] = {}

        def get(self, index, id):
            if (index, id) not in self.docs:
                raise NotFoundError(404, "not_found", {})
            return {"_source": self.docs[(index, id)]}

        def index(self, index, id, body, op_type, refresh):
            if op_type == "create" and (index, id) in self.docs:
                raise ConflictError(409, "version_conflict_engine_exception", {})
            self.docs[(index, id)] = body

    client = Client()
    sink = OpenSearchSink(client, env="prod")
    assert sink.read_epoch() is None
    epoch = sink.write_epoch(Epoch.new("first use"), only_if_absent=True)
    assert sink.write_epoch(Epoch.new("other"), only_if_absent=True) == epoch == sink.read_epoch()
    assert list(client.docs) == [("auxeira-prod-meta", "epoch")]


# -- the handlers check before a batch, and keep applying -------------------------------------


def test_a_cache_consumer_on_a_reset_store_alarms_and_still_applies_the_batch(tmp_path, records):
    sink, markers, alarms, clock = InMemoryCacheSink(), Markers(), [], Clock()
    guard = EpochGuard("cache", markers, records, alarm=alarms.append, clock=clock)
    handler = cache_handler.build_handler(sink, LocalDeadLetters(tmp_path), epochs=guard)
    handler(kinesis_event(kinesis_record(envelope("A", 1))), None)
    markers.epoch = None
    clock.now += 61
    response = handler(kinesis_event(kinesis_record(envelope("B", 1))), None)
    assert response == {"batchItemFailures": []}
    assert [a.state for a in alarms] == [EpochState.RESET]
    assert sink.get("aux:local:t1:startup:B") is not None


@pytest.mark.parametrize("module", [search_handler, counters_handler])
def test_search_and_counters_consumers_check_their_store_before_a_batch(tmp_path, records, module, moto):
    markers = Markers()
    guard = EpochGuard(module.CONSUMER, markers, records)
    sink = (
        EmbeddedSearchSink(":memory:")
        if module is search_handler
        else DynamoCounterSink(moto, COUNTERS_TABLE.physical_name("t"))
    )
    module.build_handler(sink, LocalDeadLetters(tmp_path), epochs=guard)(
        kinesis_event(kinesis_record(envelope())), None
    )
    assert markers.reads > 0 and records.get(module.CONSUMER) == markers.epoch


def test_a_deployed_consumer_logs_the_reset_and_emits_store_reset(capsys):
    stream = io.StringIO()
    observer = PowertoolsObserver(
        "cache",
        logger=Logger(service="auxeira-epochs-test", stream=stream),  # a service of its own: loggers are shared by name
        metrics=Metrics(provider=AmazonCloudWatchEMFProvider(namespace="Auxeira/Test", metric_set={})),
        env="prod",
    )
    observer.store_reset(EpochCheck("cache", EpochState.RESET, recorded=Epoch("e1", "2026-01-01T00:00:00+00:00")))
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["level"] == "ERROR" and line["store"] == "cache" and line["state"] == "reset"
    [emf] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if "_aws" in text]
    assert emf["StoreReset"] == [1.0]
    assert emf["consumer"] == "cache" and emf["environment"] == "prod"


def test_a_marker_that_cannot_be_written_never_fails_the_batch(tmp_path, records):
    class ReadOnly(Markers):
        def write_epoch(self, epoch: Epoch, *, only_if_absent: bool = False) -> Epoch:
            raise RuntimeError("READONLY You can't write against a read only replica")

    sink = InMemoryCacheSink()
    guard = EpochGuard("cache", ReadOnly(), records)
    handler = cache_handler.build_handler(sink, LocalDeadLetters(tmp_path), epochs=guard)
    assert handler(kinesis_event(kinesis_record(envelope("A", 1))), None) == {"batchItemFailures": []}
    assert sink.get("aux:local:t1:startup:A") is not None
