"""Publisher benchmark: requests per 1,000 events, batched, aggregated and naive, on moto.

Run: ``.venv/bin/python -m bench.publisher [--events N] [--naive-events N]``. In one
process, against moto's in-process Kinesis (64-shard streams; moto enforces the
500-record, 5 MiB and 1 MiB limits), with PutRecord(s) calls counted through botocore's
``before-call.kinesis.*`` hook:

a. ``Publisher`` with default settings, every event;
b. the same events through ``Publisher(aggregate=True)`` (KPL records by hash bucket);
c. naive: one ``put_record`` per event. moto takes ~1 ms per call, so by default this
   loop runs on the first 10,000 events (``naive_sample_events`` in the last line);
   one request per event is the same ratio at any count.

The workload (seeded, built before timing): 100,000 published events in time order
over one day and three tenants: page views, feature use, gamification actions,
chatbot turns, and one Stripe and one QuickBooks sync per startup, whose event payloads
are 200 B to 20 KB (envelopes add ~350 B), and 5 QuickBooks syncs with over 1 MiB of
line items, which ``publish`` must reject. ``lost`` reads every stored record of runs
a and b back, opens aggregated ones with the consumers' ``envelopes_of`` and compares
event ids with what was accepted. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import orjson
from aws_lambda_powertools import Logger
from moto import mock_aws

from auxeira.runtime.bus import envelopes_of
from producers.kinesis_writer import MAX_RECORD_BYTES
from producers.publisher import Publisher
from producers.stream_router import partition_key
from schemas.envelope import encode
from schemas.errors import RecordTooLargeError
from schemas.events import (
    ChatbotTurn,
    FeatureUse,
    GamificationAction,
    PageView,
    PublishedEvent,
    QuickBooksSync,
    StripeMrrSync,
    to_envelope,
)

TENANTS = ("northstar", "civic-fund", "blue-impact")
OVERSIZED = 5
SHARDS = 64
_WORDS = (
    "revenue",
    "pilot",
    "customers",
    "growth",
    "churn",
    "runway",
    "investor",
    "deck",
    "market",
    "hiring",
    "product",
    "launch",
    "retention",
    "pricing",
    "partner",
    "grant",
    "impact",
    "carbon",
)


class SummingMetrics:
    """Stands in for powertools ``Metrics``: sums values instead of printing EMF blobs."""

    def __init__(self) -> None:
        self.totals: Counter[str] = Counter()

    def add_metric(self, name: str, unit: Any, value: float, **_: Any) -> None:
        self.totals[name] += value


class Workload:
    """Seeded events of the published types with payloads sized 200 B to 20 KB."""

    def __init__(self, count: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.text = " ".join(self.rng.choice(_WORDS) for _ in range(40_000))
        self.start = datetime(2026, 3, 1, tzinfo=UTC)
        self.startups = max(1, count // 30)  # ~3% of events are syncs: one of each per startup
        self.count = count

    def events(self) -> list[PublishedEvent]:
        step = 86_400 / self.count
        sync_slots = {
            int(self.rng.random() * self.count): (s, kind)
            for s in range(self.startups)
            for kind in ("stripe", "quickbooks")
        }
        oversized = set(self.rng.sample(range(self.count), OVERSIZED))
        events = []
        for i in range(self.count):
            at = self.start + timedelta(seconds=i * step)
            if i in oversized:
                events.append(self.quickbooks(i, i % self.startups, at, pad=1_100_000))
            elif i in sync_slots:
                startup, kind = sync_slots[i]
                make = self.stripe if kind == "stripe" else self.quickbooks
                events.append(make(i, startup, at, pad=self._size(1_000, 20_000)))
            else:
                events.append(self.tracking(i, at))
        return events

    def _size(self, low: int, high: int) -> int:
        """Log-uniform: many small, a few large, as payloads are."""
        return int(low * (high / low) ** self.rng.random())

    def _words(self, size: int) -> str:
        start = self.rng.randrange(0, len(self.text) - size) if size < len(self.text) else 0
        return (self.text * (1 + size // len(self.text)))[start : start + size]

    def tracking(self, i: int, at: datetime) -> PublishedEvent:
        tenant, user = TENANTS[i % 3], f"user-{self.rng.randrange(20_000):05d}"
        roll = self.rng.random()
        if roll < 0.50:
            return PageView(
                view_id=f"pv-{i}",
                tenant_id=tenant,
                user_id=user,
                session_id=f"s-{i // 20}",
                path=f"/dashboard/{self.rng.choice(_WORDS)}",
                dashboard="startup_founder",
                duration_ms=self.rng.randrange(200, 90_000),
                device_type="desktop",
                properties={"context": self._words(self._size(10, 1_500))},
                occurred_at=at,
            )
        if roll < 0.70:
            return FeatureUse(
                usage_id=f"fu-{i}",
                tenant_id=tenant,
                user_id=user,
                feature="sse_calculator",
                action="completed",
                duration_ms=self.rng.randrange(100, 60_000),
                properties={"inputs": self._words(self._size(10, 2_000))},
                occurred_at=at,
            )
        if roll < 0.83:
            base, multiplier = self.rng.choice((10, 25, 50, 100)), self.rng.choice((1.0, 1.5, 2.0))
            return GamificationAction(
                action_id=f"ga-{i}",
                tenant_id=tenant,
                user_id=user,
                action_type="metric_update",
                base_tokens=base,
                multiplier=multiplier,
                streak_days=self.rng.randrange(30),
                aux_tokens_awarded=round(base * multiplier),
                occurred_at=at,
            )
        return ChatbotTurn(
            conversation_id=f"conv-{i // 8}",
            message_id=f"m-{i}",
            tenant_id=tenant,
            startup_id=f"st-{i % self.startups}",
            user_id=user,
            message_sender="user",
            message_text=self._words(self._size(40, 4_000)),
            message_intent="metric_update",
            message_entities={"metric_type": "mrr", "growth_percentage": 0.15},
            message_sentiment="positive",
            sentiment_score=0.7,
            ai_response=self._words(self._size(40, 8_000)),
            ai_confidence_score=0.92,
            aux_tokens_awarded=25,
            occurred_at=at,
        )

    def stripe(self, i: int, startup: int, at: datetime, pad: int) -> PublishedEvent:
        mrr = round(self.rng.uniform(1_000, 400_000), 2)
        plans = [{"plan": f"plan-{n}", "description": self._words(180)} for n in range(max(1, pad // 230))]
        return StripeMrrSync(
            sync_id=f"stripe-{i}",
            tenant_id=TENANTS[startup % 3],
            startup_id=f"st-{startup}",
            stripe_account_id=f"acct_{startup}",
            mrr=mrr,
            arr=round(mrr * 12, 2),
            active_subscriptions=120,
            total_customers=110,
            plans=plans,
            occurred_at=at,
        )

    def quickbooks(self, i: int, startup: int, at: datetime, pad: int) -> PublishedEvent:
        revenue, expenses = round(self.rng.uniform(1e4, 5e5), 2), round(self.rng.uniform(1e4, 6e5), 2)
        items = [{"account": f"{n:04d}", "amount": 12.5, "memo": self._words(200)} for n in range(pad // 250)]
        return QuickBooksSync(
            sync_id=f"qb-{i}",
            tenant_id=TENANTS[startup % 3],
            startup_id=f"st-{startup}",
            realm_id=f"realm-{startup}",
            period_start=at.date() - timedelta(days=30),
            period_end=at.date(),
            revenue=revenue,
            expenses=expenses,
            net_income=round(revenue - expenses, 2),
            cash_balance=900_000.0,
            line_items=items,
            occurred_at=at,
        )


def _client(counter: Counter[str]):
    client = boto3.client("kinesis", region_name="us-east-1")

    def count(model: Any, **_: Any) -> None:
        counter[model.name] += 1

    client.meta.events.register("before-call.kinesis.*", count)
    return client


def _stream(client, name: str) -> None:
    # moto finds a shard's next sequence number by listing all its records, so a put
    # costs O(records in the shard): spread the 100 k events over many shards, as a
    # stream taking that load would be anyway.
    client.create_stream(StreamName=name, ShardCount=SHARDS)


def _stored_ids(client, name: str) -> Counter[str]:
    """Event ids of every record on the stream, aggregated records opened."""
    ids: Counter[str] = Counter()
    for shard in client.list_shards(StreamName=name)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            ids.update(e.event_id for record in page["Records"] for e in envelopes_of(record["Data"]))
            # moto never ends an open shard's iterator: an empty page means caught up
            iterator = page["NextShardIterator"] if page["Records"] else None
    return ids


def _run_publisher(events: list[PublishedEvent], *, aggregate: bool) -> dict[str, Any]:
    counter: Counter[str] = Counter()
    client, name = _client(counter), f"bench-{'agg' if aggregate else 'plain'}"
    _stream(client, name)
    metrics, accepted, rejected = SummingMetrics(), [], 0
    logger = Logger(service="bench-publisher", level="WARNING")
    started = time.perf_counter()
    options = {"aggregate": aggregate, "metrics": metrics, "logger": logger}
    with Publisher(client, name, name="bench", **options) as publisher:
        for event in events:
            try:
                publisher.publish(event)
            except RecordTooLargeError:
                rejected += 1
                continue
            accepted.append(event)
    seconds = time.perf_counter() - started
    requests = counter["PutRecords"]
    stored = _stored_ids(client, name)
    client.delete_stream(StreamName=name)
    expected = {to_envelope(e, "bench").event_id for e in accepted}
    return {
        "seconds": seconds,
        "requests": requests,
        "rejected": rejected,
        "accepted": len(accepted),
        "lost": len(expected - set(stored)),
        "duplicates": sum(n - 1 for n in stored.values() if n > 1),
        "metrics": dict(metrics.totals),
    }


def _run_naive(events: list[PublishedEvent]) -> dict[str, Any]:
    counter: Counter[str] = Counter()
    client = _client(counter)
    _stream(client, "bench-naive")
    started, sent = time.perf_counter(), 0
    for event in events:
        envelope = to_envelope(event, "bench")
        data = encode(envelope)
        if len(data) > MAX_RECORD_BYTES:
            continue
        client.put_record(StreamName="bench-naive", Data=data, PartitionKey=partition_key(envelope))
        sent += 1
    seconds = time.perf_counter() - started
    client.delete_stream(StreamName="bench-naive")
    return {"seconds": seconds, "requests": counter["PutRecord"], "sent": sent}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--naive-events", type=int, default=10_000, help="events for the naive loop")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    out = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    t0 = time.perf_counter()
    events = Workload(args.events, args.seed).events()
    sizes = sorted(len(e.model_dump_json(exclude_none=True)) for e in events)
    out(
        f"workload: {len(events)} events in {time.perf_counter() - t0:.1f}s; payload bytes "
        f"min {sizes[0]}, median {sizes[len(sizes) // 2]}, p99 {sizes[int(len(sizes) * 0.99)]}, "
        f"max under 1 MiB {max(s for s in sizes if s < MAX_RECORD_BYTES)}, "
        f"over 1 MiB {sum(s > MAX_RECORD_BYTES for s in sizes)}"
    )
    with mock_aws():
        plain = _run_publisher(events, aggregate=False)
        out(f"publisher: {plain}")
        aggregated = _run_publisher(events, aggregate=True)
        out(f"aggregated: {aggregated}")
        naive_sample = events[: min(args.naive_events, len(events))]
        naive = _run_naive(naive_sample)
        out(f"naive ({len(naive_sample)} events): {naive}")
    per_1k = lambda requests, n: round(requests * 1000 / n, 3)  # noqa: E731
    line = {
        "bench": "publisher",
        "events": len(events),
        "events_per_s": round(len(events) / plain["seconds"]),
        "requests_per_1k_events": per_1k(plain["requests"], len(events)),
        "aggregated_requests_per_1k_events": per_1k(aggregated["requests"], len(events)),
        "naive_requests_per_1k_events": per_1k(naive["requests"], len(naive_sample)),
        "rejected_too_large": plain["rejected"],
        "lost": plain["lost"] + aggregated["lost"],
    }
    if len(naive_sample) < len(events):
        line["naive_sample_events"] = len(naive_sample)
    out(f"total {time.perf_counter() - t0:.1f}s")
    print(orjson.dumps(line).decode(), flush=True)


if __name__ == "__main__":
    main()
