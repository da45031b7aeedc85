"""Counters sinks: DynamoDB (moto) and in-memory, one suite for both.

The watermark rules under test: a replayed batch is a no-op, a batch written to only
some of its counter items and then redelivered converges, and a redelivery that
overlaps what was written resumes with the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from consumers.projections.counters import (
    CounterDelta,
    CounterEvent,
    WriteOutcome,
    coalesce,
    pad_sequence,
)
from consumers.sinks.counters_dynamo import (
    PARENT_INDEX,
    DynamoCounterSink,
    counters_table_kwargs,
    counters_table_name,
)
from consumers.sinks.counters_memory import InMemoryCounterSink
from schemas.errors import RetryableSinkError

TABLE = counters_table_name("test")
SHARD = "shardId-000000000000"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**counters_table_kwargs(TABLE))
        yield client


@pytest.fixture(params=["memory", "dynamodb"])
def sink(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryCounterSink()
    return DynamoCounterSink(request.getfixturevalue("dynamodb"), TABLE, max_workers=4)


def event(seq: int, parent: str = "STARTUP#s1", add: int = 1, *, tenant: str = "t1",
          counter: str = "activities_count", at: str | None = None, shard: str = SHARD) -> CounterEvent:
    found = [CounterDelta(tenant, parent, counter, add=add)] if add else []
    if at is not None:
        found.append(CounterDelta(tenant, parent, "last_activity_at", max=at))
    return CounterEvent(shard, pad_sequence(str(seq)), f"ev-{shard}-{seq}", tuple(found))


def history() -> list[CounterEvent]:
    """Records 1..12 touching three counter items, some records counting nothing."""
    parents = ["STARTUP#s1", "STARTUP#s2", "EVENT#e1"]
    out = []
    for seq in range(1, 13):
        parent = parents[seq % 3]
        counter = "registrations_count" if parent.startswith("EVENT") else "activities_count"
        out.append(event(seq, parent, add=0 if seq % 5 == 0 else (-1 if seq % 4 == 0 else 2), counter=counter))
    return out


def snapshot(sink: Any, tenant: str = "t1") -> dict[str, dict[str, Any]]:
    return {i.parent_key: i.values for i in sink.scan(tenant)}


def applied_once(events: list[CounterEvent]) -> dict[str, dict[str, Any]]:
    reference = InMemoryCounterSink()
    reference.write(coalesce(events))
    return snapshot(reference)


# -- the watermark -----------------------------------------------------------------------------


def test_a_batch_is_written_as_one_update_per_counter_item(sink: Any) -> None:
    updates = coalesce(history())
    assert sink.write(updates) == [WriteOutcome.APPLIED] * 3
    assert snapshot(sink) == {
        "STARTUP#s1": {"activities_count": 5},   # records 3, 6, 9, 12
        "STARTUP#s2": {"activities_count": 3},   # records 1, 4, 7 (10 counts nothing)
        "EVENT#e1": {"registrations_count": 3},  # records 2, 8, 11 (5 counts nothing)
    }
    item = sink.get("t1", "STARTUP#s1")
    assert item.tenant == "t1" and item.watermarks == {SHARD: pad_sequence("12")}


def test_a_replayed_batch_is_a_no_op(sink: Any) -> None:
    # GIVEN a batch written once
    updates = coalesce(history())
    sink.write(updates)
    # WHEN the same batch is delivered again (a crash before the checkpoint)
    outcomes = sink.write(coalesce(history()))
    # THEN every update is recognised as written, and nothing is counted twice
    assert outcomes == [WriteOutcome.REPLAYED] * 3
    assert snapshot(sink) == applied_once(history())
    assert sink.stats.replayed == 3


def test_a_batch_written_to_some_items_then_redelivered_converges(sink: Any) -> None:
    # GIVEN a crash after the first of three UpdateItems of a batch
    updates = coalesce(history())
    sink.write(updates[:1])
    # WHEN the whole batch is delivered again
    outcomes = sink.write(coalesce(history()))
    # THEN the written item is skipped and the others are written, once
    assert outcomes == [WriteOutcome.REPLAYED, WriteOutcome.APPLIED, WriteOutcome.APPLIED]
    assert snapshot(sink) == applied_once(history())


def test_a_redelivery_overlapping_written_records_resumes_with_the_rest(sink: Any) -> None:
    # GIVEN records 1..12 written to the startups, but the update of EVENT#e1 failed
    first = coalesce(history())
    sink.write([u for u in first if u.parent_key != "EVENT#e1"])
    # WHEN Lambda redelivers from e1's lowest record (2), with records 13..18 appended
    more = [event(seq, ["STARTUP#s1", "STARTUP#s2", "EVENT#e1"][seq % 3], add=1,
                  counter="registrations_count" if seq % 3 == 2 else "activities_count") for seq in range(13, 19)]
    redelivery = coalesce(history()[1:] + more)
    outcomes = {u.parent_key: o for u, o in zip(redelivery, sink.write(redelivery))}
    # THEN the startups get only records 13..18, EVENT#e1 everything, each once
    assert outcomes == {"STARTUP#s1": WriteOutcome.RESUMED, "STARTUP#s2": WriteOutcome.RESUMED,
                        "EVENT#e1": WriteOutcome.APPLIED}
    assert snapshot(sink) == applied_once(history() + more)


def test_a_redelivery_cut_into_other_batches_converges(sink: Any) -> None:
    events = history()
    sink.write(coalesce(events))
    # WHEN the shard is read again from the start in batches of 5 (a rewound checkpoint)
    for start in range(0, len(events), 5):
        sink.write(coalesce(events[start:start + 5]))
    assert snapshot(sink) == applied_once(events)


def test_watermarks_are_per_shard(sink: Any) -> None:
    sink.write(coalesce([event(100, shard="shardId-a")]))
    # a lower sequence number on another shard is a different position, not a replay
    assert sink.write(coalesce([event(5, shard="shardId-b")])) == [WriteOutcome.APPLIED]
    assert snapshot(sink) == {"STARTUP#s1": {"activities_count": 2}}


def test_last_activity_is_raised_never_lowered(sink: Any) -> None:
    sink.write(coalesce([event(1, at="2026-03-01T00:00:00.000000Z")]))
    # WHEN a later batch counts an activity with an older timestamp
    assert sink.write(coalesce([event(2, at="2026-01-01T00:00:00.000000Z")])) == [WriteOutcome.APPLIED]
    # THEN the count moves and the time stays
    assert snapshot(sink) == {"STARTUP#s1": {"activities_count": 2, "last_activity_at": "2026-03-01T00:00:00.000000Z"}}
    sink.write(coalesce([event(3, add=0, at="2026-04-01T00:00:00.000000Z")]))
    assert sink.get("t1", "STARTUP#s1").values["last_activity_at"] == "2026-04-01T00:00:00.000000Z"


def test_tenants_are_isolated_and_a_parent_can_be_found_in_every_tenant(sink: Any) -> None:
    sink.write(coalesce([event(1, tenant="t1"), event(2, tenant="t2", add=5), event(3, "USER#u1", tenant="t2")]))
    assert sink.get("t1", "STARTUP#s1").values == {"activities_count": 1}
    assert sink.get("t2", "STARTUP#s1").values == {"activities_count": 5}
    assert sink.get("t3", "STARTUP#s1") is None
    assert sorted(i.tenant for i in sink.find("STARTUP#s1")) == ["t1", "t2"]
    assert [i.parent_key for i in sink.scan("t1")] == ["STARTUP#s1"]


# -- DynamoDB specifics -----------------------------------------------------------------------


def test_the_table_is_not_streamed_and_its_index_holds_keys_only() -> None:
    kwargs = counters_table_kwargs(TABLE)
    assert "StreamSpecification" not in kwargs
    [index] = kwargs["GlobalSecondaryIndexes"]
    assert index["IndexName"] == PARENT_INDEX and index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_a_max_that_is_not_newer_costs_one_conditional_failure_then_writes_the_counts(dynamodb: Any) -> None:
    sink = DynamoCounterSink(dynamodb, TABLE)
    sink.write(coalesce([event(1, at="2026-03-01T00:00:00.000000Z")]))
    sink.write(coalesce([event(2, at="2026-01-01T00:00:00.000000Z")]))
    assert (sink.stats.writes, sink.stats.conditional_failures) == (3, 1)


class ScriptedClient:
    """Passes calls to moto, but fails update_item with the scripted error codes first."""

    def __init__(self, client: Any, codes: dict[str, list[str]]):
        self._client = client
        self.codes = codes  # item key -> error codes to raise, in order
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **kwargs: Any) -> Any:
        self.calls += 1
        pending = self.codes.get(kwargs["Key"]["PK"]["S"])
        if pending:
            code = pending.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")
        return self._client.update_item(**kwargs)


def test_throttled_updates_are_retried_and_a_lasting_throttle_fails_only_its_item(dynamodb: Any) -> None:
    # GIVEN s1 throttled twice, s2 throttled more often than the sink tries
    throttle = "ProvisionedThroughputExceededException"
    client = ScriptedClient(dynamodb, {"t1#STARTUP#s1": [throttle] * 2, "t1#STARTUP#s2": [throttle] * 9})
    waits: list[float] = []
    sink = DynamoCounterSink(client, TABLE, max_workers=1, max_attempts=3, sleep=waits.append)
    updates = coalesce([event(1, "STARTUP#s1"), event(2, "STARTUP#s2"), event(3, "EVENT#e1", counter="registrations_count")])
    # WHEN the batch is written
    outcomes = sink.write(updates)
    # THEN s1 got through on its third try, s2 failed alone, the event item was written
    assert outcomes[0] is WriteOutcome.APPLIED and outcomes[2] is WriteOutcome.APPLIED
    assert isinstance(outcomes[1], RetryableSinkError) and throttle in str(outcomes[1])
    assert snapshot(sink) == {"STARTUP#s1": {"activities_count": 1}, "EVENT#e1": {"registrations_count": 1}}
    assert len(waits) == 4 and all(0 <= w <= 2.0 for w in waits)
    # AND the failed item converges when its records are redelivered
    client.codes.clear()
    assert sink.write(coalesce([event(2, "STARTUP#s2"), event(3, "EVENT#e1", counter="registrations_count")])) == [
        WriteOutcome.APPLIED, WriteOutcome.REPLAYED]


def test_an_error_that_retrying_cannot_fix_fails_the_item_at_once(dynamodb: Any) -> None:
    client = ScriptedClient(dynamodb, {"t1#STARTUP#s1": ["ValidationException"]})
    sink = DynamoCounterSink(client, TABLE, max_workers=1, sleep=lambda s: None)
    [outcome] = sink.write(coalesce([event(1)]))
    assert isinstance(outcome, RetryableSinkError) and client.calls == 1


def test_an_unreachable_table_fails_each_item_with_a_retryable_error() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="x", aws_secret_access_key="x",
                          config=Config(retries={"max_attempts": 0}, connect_timeout=0.2))
    sink = DynamoCounterSink(client, TABLE, max_attempts=2, sleep=lambda s: None)
    outcomes = sink.write(coalesce([event(1), event(2, "STARTUP#s2")]))
    assert all(isinstance(o, RetryableSinkError) for o in outcomes)
    assert sink.stats.failed == 2


def test_many_items_written_concurrently(dynamodb: Any) -> None:
    sink = DynamoCounterSink(dynamodb, TABLE, max_workers=8)
    events = [event(seq, f"STARTUP#s{seq % 40}", add=seq) for seq in range(1, 201)]
    assert sink.write(coalesce(events)) == [WriteOutcome.APPLIED] * 40
    assert snapshot(sink) == applied_once(events)

