"""Counters sinks: DynamoDB (moto) and in-memory, one suite for both.

The watermark rules under test: a replayed batch is a no-op, a batch written to only
some of its counter items and then redelivered converges, and a redelivery that
overlaps what was written resumes with the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from consumers.projections.counter_items import histogram_attr
from consumers.projections.counters import (
    CounterDelta,
    CounterEvent,
    WriteOutcome,
    coalesce,
    pad_sequence,
)
from consumers.sinks.counters_dynamo import (
    MAX_ADDS,
    PARENT_INDEX,
    DynamoCounterSink,
    update_item_kwargs,
)
from consumers.sinks.counters_memory import InMemoryCounterSink
from infra.tables import create_table_request
from schemas.errors import RetryableSinkError
from schemas.resources import COUNTERS_TABLE
from tests.moto_tables import serialized

TABLE = COUNTERS_TABLE.physical_name("test")
SHARD = "shardId-000000000000"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**create_table_request(COUNTERS_TABLE, "test"))
        yield client


@pytest.fixture(params=["memory", "dynamodb"])
def sink(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryCounterSink()
    return DynamoCounterSink(serialized(request.getfixturevalue("dynamodb")), TABLE, max_workers=4)


def event(
    seq: int,
    parent: str = "STARTUP#s1",
    add: int = 1,
    *,
    tenant: str = "t1",
    counter: str = "activities_count",
    at: str | None = None,
    shard: str = SHARD,
) -> CounterEvent:
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
        "STARTUP#s1": {"activities_count": 5},  # records 3, 6, 9, 12
        "STARTUP#s2": {"activities_count": 3},  # records 1, 4, 7 (10 counts nothing)
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
    more = [
        event(
            seq,
            ["STARTUP#s1", "STARTUP#s2", "EVENT#e1"][seq % 3],
            add=1,
            counter="registrations_count" if seq % 3 == 2 else "activities_count",
        )
        for seq in range(13, 19)
    ]
    redelivery = coalesce(history()[1:] + more)
    outcomes = {u.parent_key: o for u, o in zip(redelivery, sink.write(redelivery))}
    # THEN the startups get only records 13..18, EVENT#e1 everything, each once
    assert outcomes == {
        "STARTUP#s1": WriteOutcome.RESUMED,
        "STARTUP#s2": WriteOutcome.RESUMED,
        "EVENT#e1": WriteOutcome.APPLIED,
    }
    assert snapshot(sink) == applied_once(history() + more)


def test_a_redelivery_cut_into_other_batches_converges(sink: Any) -> None:
    events = history()
    sink.write(coalesce(events))
    # WHEN the shard is read again from the start in batches of 5 (a rewound checkpoint)
    for start in range(0, len(events), 5):
        sink.write(coalesce(events[start : start + 5]))
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
    kwargs = create_table_request(COUNTERS_TABLE, "test")
    assert "StreamSpecification" not in kwargs
    [index] = kwargs["GlobalSecondaryIndexes"]
    assert index["IndexName"] == PARENT_INDEX and index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_a_max_that_is_not_newer_costs_one_conditional_failure_then_writes_the_counts(dynamodb: Any) -> None:
    sink = DynamoCounterSink(dynamodb, TABLE)
    sink.write(coalesce([event(1, at="2026-03-01T00:00:00.000000Z")]))
    sink.write(coalesce([event(2, at="2026-01-01T00:00:00.000000Z")]))
    assert (sink.stats.writes, sink.stats.conditional_failures) == (3, 1)


class ScriptedClient:
    """Passes calls to moto, but fails update_item with the scripted error codes first (None passes)."""

    def __init__(self, client: Any, codes: dict[str, list[str]]):
        self._client = client
        self.codes = codes  # item key -> error codes to raise, in order
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **kwargs: Any) -> Any:
        self.calls += 1
        pending = self.codes.get(kwargs["Key"]["PK"]["S"])
        code = pending.pop(0) if pending else None  # None: this call goes through
        if code is not None:
            raise ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")
        return self._client.update_item(**kwargs)


def test_throttled_updates_are_retried_and_a_lasting_throttle_fails_only_its_item(dynamodb: Any) -> None:
    # GIVEN s1 throttled twice, s2 throttled more often than the sink tries
    throttle = "ProvisionedThroughputExceededException"
    client = ScriptedClient(dynamodb, {"t1#STARTUP#s1": [throttle] * 2, "t1#STARTUP#s2": [throttle] * 9})
    waits: list[float] = []
    sink = DynamoCounterSink(client, TABLE, max_workers=1, max_attempts=3, sleep=waits.append)
    updates = coalesce(
        [event(1, "STARTUP#s1"), event(2, "STARTUP#s2"), event(3, "EVENT#e1", counter="registrations_count")]
    )
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
        WriteOutcome.APPLIED,
        WriteOutcome.REPLAYED,
    ]


def test_an_error_that_retrying_cannot_fix_fails_the_item_at_once(dynamodb: Any) -> None:
    client = ScriptedClient(dynamodb, {"t1#STARTUP#s1": ["ValidationException"]})
    sink = DynamoCounterSink(client, TABLE, max_workers=1, sleep=lambda s: None)
    [outcome] = sink.write(coalesce([event(1)]))
    assert isinstance(outcome, RetryableSinkError) and client.calls == 1


def test_an_unreachable_table_fails_each_item_with_a_retryable_error() -> None:
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, connect_timeout=0.2),
    )
    sink = DynamoCounterSink(client, TABLE, max_attempts=2, sleep=lambda s: None)
    outcomes = sink.write(coalesce([event(1), event(2, "STARTUP#s2")]))
    assert all(isinstance(o, RetryableSinkError) for o in outcomes)
    assert sink.stats.failed == 2


def test_many_items_written_concurrently(dynamodb: Any) -> None:
    sink = DynamoCounterSink(serialized(dynamodb), TABLE, max_workers=8)
    events = [event(seq, f"STARTUP#s{seq % 40}", add=seq) for seq in range(1, 201)]
    assert sink.write(coalesce(events)) == [WriteOutcome.APPLIED] * 40
    assert snapshot(sink) == applied_once(events)


# -- latest values by version, and histogram buckets (the loan's figures) ----------------------------

LOAN = "LOAN#l1"


def target(seq: int, version: int, value: Any, *, shard: str = SHARD, add: int = 0) -> CounterEvent:
    found = [CounterDelta("t1", LOAN, "target_amount", version=version, value=value)]
    if add:
        found.append(CounterDelta("t1", LOAN, "participant_count", add=add))
    return CounterEvent(shard, pad_sequence(str(seq)), f"ev-{shard}-{seq}", tuple(found))


def test_a_target_arriving_after_a_newer_one_does_not_overwrite_it(sink: Any) -> None:
    # GIVEN the loan's amount at version 4
    sink.write(coalesce([target(1, 4, Decimal("12000.5"))]))
    # WHEN version 3 arrives later (another shard, or a reordered replay), with a participant counted
    assert sink.write(coalesce([target(7, 3, 9000, shard="shardId-b", add=1)])) == [WriteOutcome.APPLIED]
    # THEN the target stays at version 4, and the count still lands
    item = sink.get("t1", LOAN)
    assert item.values == {"target_amount": Decimal("12000.5"), "ver#target_amount": 4, "participant_count": 1}
    assert item.version("target_amount") == 4
    # AND a newer version replaces it
    sink.write(coalesce([target(2, 5, 15000)]))
    assert sink.get("t1", LOAN).values["target_amount"] == 15000


def test_a_deleted_loans_target_stays_cleared_against_older_states(sink: Any) -> None:
    sink.write(coalesce([target(1, 2, 10000)]))
    # WHEN the delete (tombstone version 3) is followed by a late version 2 state
    sink.write(coalesce([target(2, 3, None)]))
    sink.write(coalesce([target(3, 1, 8000)]))
    # THEN no target, and the tombstone's version is kept
    assert sink.get("t1", LOAN).values == {"ver#target_amount": 3}


def test_the_newest_target_of_a_batch_wins_whatever_its_position(sink: Any) -> None:
    sink.write(coalesce([target(1, 6, 600), target(2, 9, 900), target(3, 7, 700)]))
    assert sink.get("t1", LOAN).values == {"target_amount": 900, "ver#target_amount": 9}


def bucket(seq: int, amount: str, add: int) -> CounterEvent:
    name = histogram_attr("contributions", Decimal(amount))
    return CounterEvent(SHARD, pad_sequence(str(seq)), f"ev-{seq}", (CounterDelta("t1", LOAN, name, add=add),))


def test_histogram_buckets_count_equal_amounts_together_and_read_back_as_decimals(sink: Any) -> None:
    # GIVEN 2500.50 twice (written two ways), 1000 once, and 0.01 that came and went
    sink.write(coalesce([bucket(1, "2500.50", 1), bucket(2, "2500.5", 1), bucket(3, "1000", 1), bucket(4, "0.01", 1)]))
    sink.write(coalesce([bucket(5, "0.01", -1)]))
    item = sink.get("t1", LOAN)
    # THEN the emptied bucket stays at 0 in the item but not in the histogram
    assert item.values == {"hist#contributions#2500_5": 2, "hist#contributions#1000": 1, "hist#contributions#0_01": 0}
    assert item.histogram("contributions") == {Decimal("1000"): 1, Decimal("2500.5"): 2}


def test_sums_read_back_as_dynamodb_returns_them(sink: Any) -> None:
    # 0.1 + 0.2 - 0.3 is exactly 0, and 1.10 + 1.40 reads back as 2.5
    adds = [("a", "0.1"), ("a", "0.2"), ("a", "-0.3"), ("b", "1.10"), ("b", "1.40")]
    events = [
        CounterEvent(SHARD, pad_sequence(str(n)), f"e{n}", (CounterDelta("t1", LOAN, name, add=Decimal(v)),))
        for n, (name, v) in enumerate(adds, 1)
    ]
    sink.write(coalesce(events[:2]))
    sink.write(coalesce(events[2:]))
    values = sink.get("t1", LOAN).values
    assert values == {"a": 0, "b": Decimal("2.5")} and type(values["a"]) is int


def test_an_older_target_costs_one_conditional_failure_then_writes_the_rest(dynamodb: Any) -> None:
    sink = DynamoCounterSink(dynamodb, TABLE)
    sink.write(coalesce([target(1, 4, 100)]))
    assert sink.write(coalesce([target(2, 3, 50, add=2)])) == [WriteOutcome.APPLIED]
    assert (sink.stats.writes, sink.stats.conditional_failures) == (3, 1)
    assert sink.get("t1", LOAN).values == {"target_amount": 100, "ver#target_amount": 4, "participant_count": 2}


def test_the_update_item_sets_removes_and_adds_in_one_expression() -> None:
    events = [target(1, 3, None), bucket(2, "2500.50", 1)]
    [update] = coalesce(events)
    kwargs = update_item_kwargs(TABLE, update, {})
    assert kwargs["UpdateExpression"] == (
        "SET #wm = :wm, #t = if_not_exists(#t, :t), #p = if_not_exists(#p, :p), #v0 = :v0 REMOVE #l0 ADD #a0 :a0"
    )
    assert kwargs["ConditionExpression"] == (
        "(attribute_not_exists(#wm) OR #wm < :first) AND (attribute_not_exists(#v0) OR #v0 < :v0)"
    )
    names = kwargs["ExpressionAttributeNames"]
    assert (names["#l0"], names["#v0"], names["#a0"]) == (
        "target_amount",
        "ver#target_amount",
        "hist#contributions#2500_5",
    )


# -- both sinks hold the same items after the same writes ---------------------------------------------

_counter_deltas = st.one_of(
    st.builds(
        lambda n, a: CounterDelta("t1", f"LOAN#l{n}", histogram_attr("contributions", a), add=1),
        st.integers(0, 1),
        st.sampled_from([Decimal("2500.50"), Decimal("1000"), Decimal("0.01")]),
    ),
    st.builds(
        lambda n, a: CounterDelta("t1", f"LOAN#l{n}", "total_funded", add=a),
        st.integers(0, 1),
        st.decimals(-1000, 1000, places=2),
    ),
    st.builds(
        lambda n, v, a: CounterDelta("t1", f"LOAN#l{n}", "target_amount", version=v, value=a),
        st.integers(0, 1),
        st.integers(1, 6),
        st.one_of(st.none(), st.decimals(1, 10**6, places=2)),
    ),
    st.builds(
        lambda n, t: CounterDelta("t1", f"STARTUP#s{n}", "last_activity_at", max=f"2026-01-0{t}"),
        st.integers(0, 1),
        st.integers(1, 9),
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(st.lists(_counter_deltas, max_size=3), min_size=1, max_size=12),
    cuts=st.lists(st.integers(1, 6), min_size=1, max_size=6),
)
def test_memory_and_dynamodb_hold_the_same_items(dynamodb: Any, records: list, cuts: list[int]) -> None:
    # GIVEN records cut into batches, then the whole shard delivered again in other cuts
    events = [CounterEvent(SHARD, pad_sequence(str(n)), f"e{n}", tuple(d)) for n, d in enumerate(records, 1)]
    memory, table = InMemoryCounterSink(), DynamoCounterSink(dynamodb, TABLE, max_workers=1)
    dynamodb.delete_table(TableName=TABLE)
    dynamodb.create_table(**create_table_request(COUNTERS_TABLE, "test"))
    for size in (cuts[0], cuts[-1]):
        for start in range(0, len(events), size):
            batch = coalesce(events[start : start + size])
            # WHEN both sinks write it
            assert memory.write(batch) == table.write(batch)
    # THEN they hold the same values, of the same types, and the same watermarks
    held = {i.parent_key: i for i in memory.scan()}
    for item in table.scan():
        mine = held.pop(item.parent_key)
        assert item.values == mine.values and item.watermarks == mine.watermarks
        assert {k: type(v) for k, v in item.values.items()} == {k: type(v) for k, v in mine.values.items()}
    assert held == {}


# -- an update with more buckets than one expression holds ---------------------------------------------


def distinct_buckets(count: int) -> list[CounterEvent]:
    """Records 1..count, each accepting a contribution of a new amount on one loan."""
    return [bucket(n, f"{n}.25", 1) for n in range(1, count + 1)]


def test_an_update_with_too_many_buckets_is_cut_between_records_and_still_counts_once(dynamodb: Any) -> None:
    # GIVEN ten distinct amounts in one batch, and at most four ADDs per UpdateItem
    client = ScriptedClient(dynamodb, {})
    sink = DynamoCounterSink(client, TABLE, max_adds=4)
    # WHEN written
    assert sink.write(coalesce(distinct_buckets(10))) == [WriteOutcome.APPLIED]
    # THEN three UpdateItems wrote everything, and the watermark is the batch's last record
    assert client.calls == 3
    item = sink.get("t1", LOAN)
    assert sum(item.histogram("contributions").values()) == 10
    assert item.watermarks == {SHARD: pad_sequence("10")}


def test_a_crash_between_the_pieces_of_an_update_resumes_after_the_written_ones(dynamodb: Any) -> None:
    # GIVEN the second of three UpdateItems refused
    client = ScriptedClient(dynamodb, {f"t1#{LOAN}": [None, "ValidationException"]})
    sink = DynamoCounterSink(client, TABLE, max_adds=4, max_workers=1)
    [failed] = sink.write(coalesce(distinct_buckets(10)))
    # THEN the update fails, with the first piece written and watermarked at its last record
    assert isinstance(failed, RetryableSinkError)
    assert sink.get("t1", LOAN).watermarks == {SHARD: pad_sequence("4")}
    # AND the redelivered batch writes the rest only, once
    assert sink.write(coalesce(distinct_buckets(10))) == [WriteOutcome.RESUMED]
    assert snapshot(sink) == applied_once(distinct_buckets(10))
    assert sink.write(coalesce(distinct_buckets(10))) == [WriteOutcome.REPLAYED]


def test_a_full_piece_fits_dynamodbs_expression_limit() -> None:
    # GIVEN MAX_ADDS buckets plus a max and a latest counter in one piece
    events = [*distinct_buckets(MAX_ADDS), target(MAX_ADDS + 1, 7, 10), event(MAX_ADDS + 2, LOAN, add=0, at="2026")]
    [piece] = coalesce(events)[0].chunks(MAX_ADDS)
    kwargs = update_item_kwargs(TABLE, piece, piece.maxes())
    # THEN both expressions stay under 4 KB ("Expression parameters", DynamoDB developer guide)
    assert len(kwargs["UpdateExpression"]) <= 4096 and len(kwargs["ConditionExpression"]) <= 4096
