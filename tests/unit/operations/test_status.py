"""``status`` on moto: positions from the checkpoint table, warnings from an injected clock,
dead letters and failure records counted, replays listed, the deployed mappings' view."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from auxeira.operations.environment import Environment
from auxeira.operations.status import collect_status
from auxeira.operations.status_report import Thresholds, span
from auxeira.runtime.clients import ClientFactory
from auxeira.runtime.dead_letters import DeadLetter, DeadLetterStore
from auxeira.runtime.epochs import EpochRecords, EpochState, mark_built
from auxeira.runtime.failure_records import build
from infra.tables import create_table_request
from schemas.resources import CHECKPOINTS_TABLE, COUNTERS_TABLE, Registry
from tests.kinesis_records import kinesis_record

HOUR = 3600.0


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Environment]:
    """An environment on moto: the events stream (one shard), the checkpoint and counters tables,
    no source tables (the routers have nothing to read here)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        env = Environment(
            name="t",
            clients=ClientFactory(region="us-east-1"),
            lake_root=str(tmp_path / "lake"),
            search_path=str(tmp_path / "search.db"),
            registry=Registry(source_tables=()),
        )
        env.dynamodb.create_table(**create_table_request(CHECKPOINTS_TABLE, "t"))
        env.dynamodb.create_table(**create_table_request(COUNTERS_TABLE, "t"))
        env.kinesis.create_stream(StreamName=env.stream_name, ShardCount=1)
        yield env


def put(env: Environment, count: int) -> list[str]:
    """``count`` records on the stream; their sequence numbers."""
    return [
        env.kinesis.put_record(StreamName=env.stream_name, Data=b"{}", PartitionKey=f"k{n}")["SequenceNumber"]
        for n in range(count)
    ]


def cache_of(report: Any):
    [found] = [c for c in report.consumers if c.consumer == "cache"]
    return found


def test_a_checkpoint_midway_counts_the_rest_and_dates_the_newest_applied(env):
    # GIVEN 10 records, the cache checkpointed at the 4th, search at the last, counters never started
    sequences = put(env, 10)
    shard = env.kinesis.list_shards(StreamName=env.stream_name)["Shards"][0]["ShardId"]
    env.checkpoints().set("cache", shard, sequences[3])
    env.checkpoints().set("search", shard, sequences[-1])
    # WHEN status looks now
    report = collect_status(env)
    # THEN the cache is 6 behind, search none, counters all 10; the newest applied has its arrival time
    by_name = {c.consumer: c for c in report.consumers}
    assert (by_name["cache"].records_behind, by_name["search"].records_behind, by_name["counters"].records_behind) == (
        6,
        0,
        10,
    )
    assert by_name["cache"].newest_applied_at is not None and by_name["counters"].newest_applied_at is None
    assert by_name["search"].oldest_unprocessed_at is None
    assert not report.problem, report.all_warnings


def test_waiting_records_warn_of_lag_then_of_retention_then_of_loss(env):
    put(env, 3)
    now = collect_status(env).at
    # 10 minutes: a lag; 19 hours: a lag, and 5 hours left of 24; 25 hours: past retention
    lag = cache_of(collect_status(env, clock=lambda: now + 600)).warnings
    assert len(lag) == 1 and "3 records behind, the oldest waiting 10m" in lag[0]
    late = cache_of(collect_status(env, clock=lambda: now + 19 * HOUR)).warnings
    assert any("leaves the stream in 4h" in w or "leaves the stream in 5h" in w for w in late), late
    lost = cache_of(collect_status(env, clock=lambda: now + 25 * HOUR)).warnings
    assert any("past the stream's retention" in w for w in lost)
    # AND a longer retention warns at a quarter of it (7 days: 42 hours before)
    assert Thresholds().retention_warning_seconds(168) == 42 * HOUR
    assert Thresholds().retention_warning_seconds(24) == 6 * HOUR


def test_dead_letters_failure_records_and_replays_are_reported(env):
    # GIVEN two dead letters of the cache, one failure record of the counters' mapping, a replay's and a
    # backfill's checkpoint rows
    letters = DeadLetterStore(env.objects)
    for n in range(2):
        letters.put(DeadLetter("cache", "shardId-000000000000", str(n), "PoisonRecordError", "bad", {"x": n}))
    stream_arn = env.kinesis.describe_stream_summary(StreamName=env.stream_name)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    record = {**kinesis_record(b"{}", sequence="7"), "eventSourceARN": stream_arn}
    failure = build(
        [record], consumer="counters", condition="RetryAttemptsExhausted", invoke_count=3, function_error=None,
        at=datetime.now(UTC),
    )  # fmt: skip
    env.failure_records().put(failure, consumer="counters")
    env.checkpoints().set("replay:cache:20260101T000000Z:now", "shardId-000000000000", "5", finished=True)
    env.checkpoints().set("backfill:auxeira-startups-t", "segment:0/4", None)
    mark_built("cache", _NoStore(), _records(env), by="backfill")  # its copy: `__epochs__` is no consumer
    # WHEN status looks
    report = collect_status(env)
    # THEN both are counted and warned about, and the replay and the backfill are listed apart
    assert report.dead_letters["cache"] == 2
    counters = next(c for c in report.consumers if c.consumer == "counters")
    assert counters.failure_records == 1
    assert any("2 dead letters of cache" in w for w in report.all_warnings)
    assert any("failure records" in w for w in counters.warnings)
    assert [r.consumer for r in report.operations] == [
        "backfill:auxeira-startups-t",
        "replay:cache:20260101T000000Z:now",
    ]
    assert report.operations[1].shards[0].finished and not report.operations[0].shards[0].finished
    assert "__epochs__" not in {c.consumer for c in report.consumers}


def test_a_store_that_cannot_be_reached_is_unknown_not_a_problem(env):
    # GIVEN no Redis configured (the cache sink cannot be built), an embedded index never built
    report = collect_status(env)
    states = {s.check.store: s.check.state for s in report.stores}
    assert states["cache"] is EpochState.UNKNOWN and states["search"] is EpochState.UNMARKED
    assert not report.problem


def test_the_aws_view_reports_mapping_state_iterator_age_and_retention_left(env):
    # GIVEN deployed mappings: the cache's healthy, the counters' failing and 20 hours behind
    lam = FakeLambda(
        {
            "auxeira-cache-t": [_esm("c1", "OK")],
            "auxeira-counters-t": [_esm("k1", "PROBLEM: Function call failed")],
        }
    )
    watch = FakeCloudWatch({"auxeira-cache-t": 2_000.0, "auxeira-counters-t": 20 * HOUR * 1000})
    aws = Environment(
        name=env.name,
        clients=FakeClients(env.clients.region, {"lambda": lam, "cloudwatch": watch}),
        lake_root=env.lake_root,
        registry=env.registry,
    )
    aws.__dict__["dynamodb"], aws.__dict__["kinesis"] = env.dynamodb, env.kinesis
    # WHEN status looks at AWS
    report = collect_status(aws, view="aws")
    # THEN it says per-shard positions are Lambda's, and warns of the failing, lagging mapping
    assert any("per-shard positions are not available" in n for n in report.notes)
    by_name = {m.consumer: m for m in report.mappings}
    assert by_name["cache"].warnings == [] and by_name["cache"].iterator_age_ms == 2000.0
    counters = by_name["counters"]
    assert counters.retention_left_seconds == pytest.approx(4 * HOUR)
    assert any("Function call failed" in w for w in counters.warnings)
    assert any("IteratorAge 20h" in w for w in counters.warnings)
    assert any("may leave the stream in 4h" in w for w in counters.warnings)
    assert any("no event source mapping of function auxeira-search-t" in w for w in report.warnings)
    assert report.problem


def test_the_aws_view_counts_failure_records_in_the_failure_bucket(env, tmp_path):
    # GIVEN the counters' mapping k1, and Lambda's on-failure records at the failure bucket's root
    # (Lambda cannot write under a prefix), none under the lake's failures/
    bucket = tmp_path / "failures-bucket"
    for n in range(2):
        record = bucket / "aws" / "lambda" / "k1" / "shardId-000000000000" / "2026" / "12" / "01" / f"r{n}"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text("{}")
    lam = FakeLambda({"auxeira-counters-t": [_esm("k1", "OK")]})
    aws = Environment(
        name=env.name,
        clients=FakeClients(env.clients.region, {"lambda": lam, "cloudwatch": FakeCloudWatch({})}),
        lake_root=env.lake_root,
        registry=env.registry,
        failures_root=str(bucket),
    )
    aws.__dict__["dynamodb"], aws.__dict__["kinesis"] = env.dynamodb, env.kinesis
    # WHEN status looks at AWS
    report = collect_status(aws, view="aws")
    # THEN the records are counted where Lambda wrote them, and warned about
    [counters] = [m for m in report.mappings if m.consumer == "counters"]
    assert counters.failure_records == 2
    assert any("2 failure records" in w for w in counters.warnings)


def test_spans_read_as_people_say_them():
    assert [span(12), span(425), span(5 * HOUR + 720), span(3 * 86400 + 4 * HOUR), span(-60)] == [
        "12s",
        "7m 5s",
        "5h 12m",
        "3d 4h",
        "past by 1m 0s",
    ]


# -- fakes ---------------------------------------------------------------------------------


def _esm(uuid: str, result: str) -> dict[str, Any]:
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/auxeira-events-t"
    return {"UUID": uuid, "EventSourceArn": arn, "State": "Enabled", "LastProcessingResult": result}


class FakeLambda:
    class exceptions:
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self, mappings: dict[str, list[dict[str, Any]]]):
        self.mappings = mappings

    def list_event_source_mappings(self, FunctionName: str, **_: Any) -> dict[str, Any]:
        return {"EventSourceMappings": self.mappings.get(FunctionName, [])}


class FakeCloudWatch:
    def __init__(self, iterator_age: dict[str, float]):
        self.iterator_age = iterator_age

    def get_metric_data(self, MetricDataQueries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        results = []
        for query in MetricDataQueries:
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            value = self.iterator_age.get(dims.get("FunctionName", ""))
            results.append({"Id": query["Id"], "Values": [] if value is None else [value]})
        return {"MetricDataResults": results}


@dataclass(frozen=True)
class FakeClients(ClientFactory):
    fakes: dict[str, Any] | None = None

    def __init__(self, region: str, fakes: dict[str, Any]):
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "profile", None)
        object.__setattr__(self, "endpoints", {})
        object.__setattr__(self, "credentials", None)
        object.__setattr__(self, "fakes", fakes)

    def client(self, service: str, **kwargs: Any) -> Any:
        if self.fakes and service in self.fakes:
            return self.fakes[service]
        return super().client(service, **kwargs)


class _NoStore:
    """A marker store that keeps nothing (only the checkpoint table's copy matters here)."""

    def read_epoch(self) -> None:
        return None

    def write_epoch(self, epoch: Any, *, only_if_absent: bool = False) -> Any:
        return epoch


def _records(env: Environment) -> EpochRecords:
    return EpochRecords(env.dynamodb, env.checkpoint_table)
