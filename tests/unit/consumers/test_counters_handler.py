"""The counters consumer handler: positions from the Lambda record, one write per batch,
per-item failures mapped back to records, poison to the dead-letter store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from auxeira.runtime.dead_letters import LocalDeadLetters
from consumers.handlers.counters import CONSUMER, build_handler
from consumers.projections.counters import CounterUpdate, pad_sequence
from consumers.sinks.counters_memory import InMemoryCounterSink
from schemas.envelope import Envelope, Source
from schemas.errors import RetryableSinkError
from tests.kinesis_records import kinesis_event, kinesis_record

SHARD = "shardId-000000000007"


def created(entity: str, n: int, **state: Any) -> Envelope:
    return Envelope(
        event_id=f"{entity}-{n}",
        event_type=f"{entity}.created",
        tenant_id="t1",
        entity=entity,
        key=f"{entity}#{n}",
        version=1,
        source=Source(table="auxeira-test"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        before=None,
        after={"tenant_id": "t1", **state},
    )


def records(*envelopes: Envelope, start: int = 101) -> list[dict[str, Any]]:
    return [kinesis_record(e, shard=SHARD, sequence=str(seq)) for seq, e in enumerate(envelopes, start)]


class RecordingSink(InMemoryCounterSink):
    """Remembers each write call; fails the updates of the parents named in ``failing``."""

    def __init__(self, failing: Sequence[str] = ()):
        super().__init__()
        self.calls: list[list[CounterUpdate]] = []
        self.failing = set(failing)

    def write(self, updates):
        self.calls.append(list(updates))
        ok = super().write([u for u in updates if u.parent_key not in self.failing])
        it = iter(ok)
        return [RetryableSinkError("throttled") if u.parent_key in self.failing else next(it) for u in updates]


@pytest.fixture
def dlq(tmp_path) -> LocalDeadLetters:
    return LocalDeadLetters(tmp_path)


def test_a_batch_is_one_write_with_one_update_per_parent_positioned_by_the_lambda_record(dlq) -> None:
    # GIVEN five activities of two startups and a startup change that counts nothing
    batch = records(
        *(created("activity", n, startup_id=f"s{n % 2}", aux_tokens_earned=n) for n in range(5)),
        created("startup", 9, startup_id="s9"),
    )
    sink = RecordingSink()
    # WHEN handled
    assert build_handler(sink, dlq)(kinesis_event(*batch), None) == {"batchItemFailures": []}
    # THEN one sink call, two updates, and the watermark is the batch's last record on this shard
    assert [sorted(u.parent_key for u in call) for call in sink.calls] == [["STARTUP#s0", "STARTUP#s1"]]
    item = sink.get("t1", "STARTUP#s0")
    assert item.values == {"activities_count": 3, "aux_tokens_earned_total": 6, "aux_token_balance": 6}
    assert item.watermarks == {SHARD: pad_sequence("106")}


def test_the_same_batch_delivered_twice_counts_once(dlq) -> None:
    batch = records(*(created("user_session", n, user_id="u1") for n in range(3)))
    sink = RecordingSink()
    handle = build_handler(sink, dlq)
    handle(kinesis_event(*batch), None)
    handle(kinesis_event(*batch), None)
    assert sink.get("t1", "USER#u1").values == {"sessions_count": 3}
    assert (sink.stats.applied, sink.stats.replayed) == (1, 1)


def test_a_failed_update_fails_exactly_the_records_that_feed_it(dlq) -> None:
    # GIVEN records for e1, s1, e1, s2 and the update of EVENT#e1 throttled
    batch = records(
        created("event_registration", 1, event_id="e1", user_id="u1"),
        created("document", 2, startup_id="s1"),
        created("event_registration", 3, event_id="e1", user_id="u3"),
        created("partner_activation", 4, partner_id="p1"),
    )
    sink = RecordingSink(failing=["EVENT#e1"])
    # WHEN handled
    response = build_handler(sink, dlq)(kinesis_event(*batch), None)
    # THEN the two registrations are reported (Lambda resumes at 101); the others were written
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["101", "103"]
    assert sink.get("t1", "STARTUP#s1").values == {"documents_count": 1}
    assert sink.get("t1", "EVENT#e1") is None


def test_poison_is_dead_lettered_and_the_batch_goes_on(dlq) -> None:
    bad_tokens = created("activity", 1, startup_id="s1", aux_tokens_earned="lots")
    good = created("document", 2, startup_id="s1")
    sink = RecordingSink()
    response = build_handler(sink, dlq)(kinesis_event(*records(bad_tokens, good)), None)
    assert response == {"batchItemFailures": []}
    assert sink.get("t1", "STARTUP#s1").values == {"documents_count": 1}
    [letter] = list(dlq.list(CONSUMER))
    assert (letter.shard_id, letter.sequence_number) == (SHARD, "101")
    assert "aux_tokens_earned" in letter.message


def test_a_batch_that_counts_nothing_does_not_call_the_sink(dlq) -> None:
    sink = RecordingSink()
    response = build_handler(sink, dlq)(kinesis_event(*records(created("startup", 1, startup_id="s1"))), None)
    assert response == {"batchItemFailures": []} and sink.calls == []
