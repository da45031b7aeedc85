"""The DynamoDB counters sink against DynamoDB Local: real condition, ADD and index semantics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from consumers.projections.counter_items import histogram_attr
from consumers.projections.counters import CounterDelta, CounterEvent, WriteOutcome, coalesce, pad_sequence
from consumers.sinks.counters_dynamo import DynamoCounterSink
from consumers.sinks.counters_memory import InMemoryCounterSink
from infra.local import Endpoints
from infra.tables import create_table_request
from schemas.resources import COUNTERS_TABLE

pytestmark = pytest.mark.integration

SHARD = "shardId-000000000000"
LATE, EARLY = "2026-03-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z"


@pytest.fixture
def sink(local_stack: Endpoints) -> Iterator[DynamoCounterSink]:
    client = local_stack.dynamodb_client()
    name = f"auxeira-counters-it{uuid.uuid4().hex[:10]}"
    client.create_table(**create_table_request(COUNTERS_TABLE, "", name=name))
    try:
        yield DynamoCounterSink(client, name, max_workers=4)
    finally:
        client.delete_table(TableName=name)


def event(seq: int, parent: str, add: int = 1, at: str | None = None) -> CounterEvent:
    found = [CounterDelta("t1", parent, "activities_count", add=add)]
    if at:
        found.append(CounterDelta("t1", parent, "last_activity_at", max=at))
    return CounterEvent(SHARD, pad_sequence(str(seq)), f"e{seq}", tuple(found))


def values(sink: Any) -> dict[str, dict[str, Any]]:
    return {i.parent_key: {k: v for k, v in i.values.items() if v != 0} for i in sink.scan("t1")}


def test_replay_partial_write_and_resume_converge_on_dynamodb_local(sink: DynamoCounterSink) -> None:
    # GIVEN records 1..30 over three startups, in Kinesis-sized sequence numbers
    base = 49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000
    events = [event(base + n, f"STARTUP#s{n % 3}", add=(n % 4) - 1, at=(LATE if n == 7 else EARLY)) for n in range(30)]
    updates = coalesce(events)
    # WHEN the batch is written to one item only (a crash), then delivered again whole,
    sink.write(updates[:1])
    assert sink.write(coalesce(events)) == [WriteOutcome.REPLAYED, WriteOutcome.APPLIED, WriteOutcome.APPLIED]
    # then redelivered from record 10 with records 30..39 appended, then replayed once more
    more = [event(base + n, f"STARTUP#s{n % 3}") for n in range(30, 40)]
    assert sink.write(coalesce(events[10:] + more)) == [WriteOutcome.RESUMED] * 3
    assert sink.write(coalesce(events[10:] + more)) == [WriteOutcome.REPLAYED] * 3
    # THEN DynamoDB holds what one clean application gives
    reference = InMemoryCounterSink()
    reference.write(coalesce(events + more))
    assert values(sink) == values(reference)
    assert sink.get("t1", "STARTUP#s1").values["last_activity_at"] == LATE


def test_an_older_time_does_not_lower_last_activity_and_the_counts_still_land(sink: DynamoCounterSink) -> None:
    sink.write(coalesce([event(1, "STARTUP#s1", at=LATE)]))
    assert sink.write(coalesce([event(2, "STARTUP#s1", at=EARLY)])) == [WriteOutcome.APPLIED]
    assert values(sink) == {"STARTUP#s1": {"activities_count": 2, "last_activity_at": LATE}}
    assert sink.stats.conditional_failures == 1


def test_a_parent_is_found_in_every_tenant_through_the_index(sink: DynamoCounterSink) -> None:
    sink.write(
        coalesce(
            [
                CounterEvent(
                    SHARD,
                    pad_sequence("1"),
                    "a",
                    (
                        CounterDelta("t1", "EVENT#e1", "registrations_count", add=1),
                        CounterDelta("t2", "EVENT#e1", "registrations_count", add=4),
                    ),
                ),
            ]
        )
    )
    assert sorted((i.tenant, i.values["registrations_count"]) for i in sink.find("EVENT#e1")) == [("t1", 1), ("t2", 4)]


LOAN = "LOAN#l1"


def loan_record(seq: int, *found: CounterDelta) -> CounterEvent:
    return CounterEvent(SHARD, pad_sequence(str(seq)), f"e{seq}", found)


def target(version: int, value: Any) -> CounterDelta:
    return CounterDelta("t1", LOAN, "target_amount", version=version, value=value)


def bucket(amount: str, add: int) -> CounterDelta:
    return CounterDelta("t1", LOAN, histogram_attr("contributions", Decimal(amount)), add=add)


def test_a_loans_target_and_buckets_follow_dynamodb_semantics(sink: DynamoCounterSink) -> None:
    reference = InMemoryCounterSink()

    def write(*records: CounterEvent) -> list[WriteOutcome | BaseException]:
        reference.write(coalesce(records))
        return sink.write(coalesce(records))

    # GIVEN the loan's target at version 4, and contributions of 2500.50 (twice, written two ways) and 0.01
    write(
        loan_record(1, target(4, Decimal("12000.5")), bucket("2500.50", 1), bucket("0.01", 1)),
        loan_record(2, bucket("2500.5", 1)),
    )
    # WHEN an older target arrives with the 0.01 withdrawn
    assert write(loan_record(3, target(3, 9000), bucket("0.01", -1))) == [WriteOutcome.APPLIED]
    # THEN the newer target stayed, the withdrawal landed, and the emptied bucket reads as no bucket
    held = sink.get("t1", LOAN)
    assert held.values["target_amount"] == Decimal("12000.5") and held.version("target_amount") == 4
    assert held.histogram("contributions") == {Decimal("2500.5"): 2}
    # AND once the loan is deleted (version 5), an older state cannot bring its target back
    write(loan_record(4, target(5, None)))
    write(loan_record(5, target(2, 1)))
    assert "target_amount" not in sink.get("t1", LOAN).values
    # AND the in-memory sink given the same writes holds the same item, number types included
    assert sink.get("t1", LOAN) == reference.get("t1", LOAN)
    assert {k: type(v) for k, v in sink.get("t1", LOAN).values.items()} == {
        k: type(v) for k, v in reference.get("t1", LOAN).values.items()
    }


def test_a_batch_of_one_loans_many_distinct_amounts_is_written_within_the_expression_limit(
    sink: DynamoCounterSink,
) -> None:
    # GIVEN 600 participants accepting distinct amounts on one loan in one batch (600 buckets)
    records = [loan_record(n, bucket(f"{n}.5", 1)) for n in range(1, 601)]
    # WHEN written (as more than one UpdateItem: one would pass DynamoDB's 4 KB expression limit)
    assert sink.write(coalesce(records)) == [WriteOutcome.APPLIED]
    # THEN every bucket landed, once, and the watermark covers the batch
    held = sink.get("t1", LOAN)
    assert len(held.histogram("contributions")) == 600 and held.watermarks == {SHARD: pad_sequence("600")}
    assert sink.write(coalesce(records)) == [WriteOutcome.REPLAYED]
