"""A deployed handler logs one structured line per batch and emits its counts as EMF metrics."""

from __future__ import annotations

import io
import json

import orjson
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from auxeira.runtime.dead_letters import LocalDeadLetters
from auxeira.runtime.observability import PowertoolsObserver
from consumers.handlers.cache import build_handler
from consumers.sinks.memory import InMemoryCacheSink
from tests.kinesis_records import envelope, kinesis_event, kinesis_record


def test_one_log_line_and_one_metric_set_per_batch_with_every_count(tmp_path, capsys):
    stream = io.StringIO()
    logger = Logger(service="auxeira-cache-test", stream=stream)
    metrics = Metrics(provider=AmazonCloudWatchEMFProvider(namespace="Auxeira/Test", metric_set={}))
    handler = build_handler(
        InMemoryCacheSink(),
        LocalDeadLetters(tmp_path),
        observer=PowertoolsObserver("cache", logger=logger, metrics=metrics, env="test"),
    )
    records = [
        kinesis_record(envelope("A", 2), sequence="11"),
        kinesis_record(envelope("A", 1), sequence="12"),
        kinesis_record(b"not json", sequence="13"),
        kinesis_record(envelope("v", 1, "recorded", entity="page_view"), sequence="14"),
    ]
    handler(kinesis_event(*records), None)
    # THEN one log line with the consumer, shard, sequence range and every count; no payload
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["consumer"], line["shard"], line["first_sequence"], line["last_sequence"]) == (
        "cache",
        "shardId-000000000000",
        "11",
        "14",
    )
    assert (
        line["records"],
        line["applied"],
        line["stale"],
        line["poison"],
        line["dead_lettered"],
        line["skipped"],
    ) == (4, 1, 1, 1, 1, 1)
    assert line["failures"] == [{"outcome": "dead-lettered", "position": "13", "error": "PoisonRecordError"}]
    assert "Co A" not in stream.getvalue()
    # AND one EMF document on stdout with the same counts and the consumer dimension
    [emf] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if "_aws" in text]
    assert emf["consumer"] == "cache" and emf["environment"] == "test"
    assert (emf["Records"], emf["Applied"], emf["Stale"], emf["Poison"], emf["DeadLettered"]) == (
        [4],
        [1],
        [1],
        [1],
        [1],
    )
    assert 0 <= emf["NewestAppliedAgeMs"][0] < 60_000
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {
        "Records",
        "Applied",
        "Stale",
        "Skipped",
        "Retried",
        "Poison",
        "DeadLettered",
        "NewestAppliedAgeMs",
    } <= names


class _HalfDownSink(InMemoryCacheSink):
    """A cache whose shard holding the ``B`` keys does not answer: those items are retryable."""

    def apply(self, mutations):
        from auxeira.runtime.sinks import RetryableSinkError

        up = [m for m in mutations if "B" not in m.redis_key]
        done = iter(super().apply(up))
        return [RetryableSinkError("connection refused") if "B" in m.redis_key else next(done) for m in mutations]


def test_a_failed_record_is_logged_with_the_event_ids_it_carried(tmp_path):
    stream = io.StringIO()
    observer = PowertoolsObserver(
        "cache",
        logger=Logger(service="auxeira-cache-failures-test", stream=stream),
        metrics=Metrics(provider=AmazonCloudWatchEMFProvider(namespace="Auxeira/Test", metric_set={})),
    )
    handler = build_handler(_HalfDownSink(), LocalDeadLetters(tmp_path), observer=observer)
    good, down, poison = envelope("A", 1), envelope("B", 4), envelope("C", 1)
    bad = poison.model_dump(mode="json") | {"version": -1}
    records = [
        kinesis_record(good, sequence="21"),
        kinesis_record(down, sequence="22"),
        kinesis_record(orjson.dumps(bad), sequence="23"),
    ]
    response = handler(kinesis_event(*records), None)
    # THEN Kinesis retries from the record whose store is down ...
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["22"]
    # ... AND the log names each failed record by its position, its cause AND the event it carried
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert [(f["outcome"], f["position"], f.get("event_ids")) for f in line["failures"]] == [
        ("dead-lettered", "23", None),  # unreadable: no envelope, so no event id to name
        ("retried", "22", [down.event_id]),
    ]
