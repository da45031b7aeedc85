"""A realistic envelope workload for the consumer benchmarks.

Envelopes of about 1 KB over a fixed population of entities in three tenants, with
Zipf-skewed keys (a few hot startups take most changes, as on the platform), per-key
increasing versions, and a share of deletes. Built once, in memory, deterministically.
"""

from __future__ import annotations

import base64
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.envelope import Envelope, Source, encode, event_id_for

__all__ = ["Workload", "build_workload", "to_kinesis_records"]

TENANTS = ("northstar", "civic-fund", "blue-impact")
_WORDS = (
    "adaptive",
    "learning",
    "payments",
    "clinics",
    "solar",
    "supply",
    "carbon",
    "credit",
    "farmers",
    "tutoring",
    "insurance",
    "housing",
    "analytics",
    "marketplace",
    "platform",
    "schools",
    "climate",
)
#: (entity, share of the population); children point at startups.
_MIX = (
    ("startup", 0.10),
    ("activity", 0.40),
    ("document", 0.20),
    ("chatbot_message", 0.20),
    ("event_registration", 0.10),
)
_TABLE = {
    "startup": "startups",
    "activity": "activities",
    "document": "documents",
    "chatbot_message": "chatbot-conversations",
    "event_registration": "event-registrations",
}


@dataclass(frozen=True)
class Workload:
    envelopes: list[Envelope]
    payloads: list[bytes]
    entities: int

    @property
    def mean_bytes(self) -> float:
        return sum(map(len, self.payloads)) / len(self.payloads)


def build_workload(
    events: int = 200_000, entities: int = 20_000, delete_share: float = 0.10, zipf_s: float = 1.1, seed: int = 42
) -> Workload:
    rng = random.Random(seed)
    population = _population(entities, rng)
    weights = [1.0 / (rank + 1) ** zipf_s for rank in range(entities)]
    hot_order = list(range(entities))
    rng.shuffle(hot_order)  # which entities are hot is random, not "the first ones"
    picks = rng.choices(hot_order, weights=weights, k=events)
    versions = [0] * entities
    start = datetime(2026, 1, 1, tzinfo=UTC)
    envelopes = []
    for n, index in enumerate(picks):
        entity, tenant, key, state = population[index]
        versions[index] += 1
        removed = rng.random() < delete_share
        action = "deleted" if removed else ("created" if versions[index] == 1 else "updated")
        after = None if removed else {**state, "version": versions[index]}
        envelopes.append(
            Envelope(
                event_id=event_id_for("bench", str(n)),
                event_type=f"{entity}.{action}",
                tenant_id=tenant,
                entity=entity,
                key=key,
                version=versions[index],
                source=Source(table=f"auxeira-{_TABLE[entity]}-bench", sequence_number=str(n)),
                occurred_at=start + timedelta(seconds=n),
                actor="bench",
                before={**state, "version": versions[index] - 1} if versions[index] > 1 else None,
                after=after,
            )
        )
    return Workload(envelopes, [encode(e) for e in envelopes], entities)


def to_kinesis_records(payloads: list[bytes], shard: str = "shardId-000000000000") -> list[dict[str, Any]]:
    """Lambda-shaped Kinesis records, as the event source mapping delivers them."""
    return [
        {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "pk",
                "sequenceNumber": f"{n:056d}",
                "data": base64.b64encode(p).decode("ascii"),
                "approximateArrivalTimestamp": time.time(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard}:{n:056d}",
            "eventName": "aws:kinesis:record",
            "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/auxeira-events-bench",
        }
        for n, p in enumerate(payloads)
    ]


def _population(entities: int, rng: random.Random) -> list[tuple[str, str, str, dict[str, Any]]]:
    startups = max(1, int(entities * _MIX[0][1]))
    out = []
    for index in range(entities):
        entity = _entity_for(index, entities)
        tenant = TENANTS[index % len(TENANTS)]
        parent = f"{tenant}-s{rng.randrange(startups // len(TENANTS) + 1)}"
        out.append((entity, tenant, *_state(entity, tenant, index, parent, rng)))
    return out


def _entity_for(index: int, entities: int) -> str:
    position = index / entities
    edge = 0.0
    for entity, share in _MIX:
        edge += share
        if position < edge:
            return entity
    return _MIX[-1][0]


def _state(entity: str, tenant: str, index: int, parent: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
    common = {
        "tenant_id": tenant,
        "created_at": "2026-01-01T00:00:00.000000Z",
        "updated_at": "2026-01-02T00:00:00.000000Z",
    }
    if entity == "startup":
        sid = f"{tenant}-s{index}"
        return f"STARTUP#{sid}|PROFILE", {
            **common,
            "startup_id": sid,
            "company_name": _text(rng, 3).title(),
            "tagline": _text(rng, 6),
            "elevator_pitch": _text(rng, 6),
            "description": _text(rng, 8),
            "industry": "EdTech",
            "stage": "Seed",
            "sse_score": rng.randrange(100),
        }
    if entity == "activity":
        return f"STARTUP#{parent}|ACTIVITY#2026-01-01T00:00:00.000000Z#a{index}", {
            **common,
            "activity_id": f"a{index}",
            "startup_id": parent,
            "user_id": f"u{index % 997}",
            "timestamp": "2026-01-01T00:00:00.000000Z",
            "activity_type": "metric_update",
            "activity_description": _text(rng, 4),
            "aux_tokens_earned": rng.choice((10, 25, 50)),
            "aux_tokens_spent": rng.choice((0, 5)),
            "activity_metadata": {"source": "manual_entry"},
        }
    if entity == "document":
        return f"STARTUP#{parent}|DOCUMENT#d{index}", {
            **common,
            "document_id": f"d{index}",
            "startup_id": parent,
            "user_id": f"u{index % 997}",
            "document_type": "pitch_deck",
            "document_name": f"{_text(rng, 3)}.pdf",
            "document_description": _text(rng, 5),
            "tags": [rng.choice(_WORDS), rng.choice(_WORDS)],
        }
    if entity == "chatbot_message":
        return f"CONVERSATION#c{index % 5000}|MESSAGE#2026-01-01T00:00:00.000000Z#m{index}", {
            **common,
            "conversation_id": f"c{index % 5000}",
            "message_id": f"m{index}",
            "startup_id": parent,
            "user_id": f"u{index % 997}",
            "message_timestamp": "2026-01-01T00:00:00.000000Z",
            "message_sender": "user",
            "message_text": _text(rng, 6),
            "message_intent": "metric_update",
            "message_sentiment": "positive",
            "aux_tokens_awarded": 5,
        }
    event_id = f"e{index % 50}"
    return f"EVENT#{event_id}|REGISTRATION#u{index}", {
        **common,
        "event_id": event_id,
        "user_id": f"u{index}",
        "startup_id": parent,
        "status": "registered",
        "registered_at": "2026-01-01T00:00:00.000000Z",
    }


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))
