"""Lake workloads without a stack: the generator's writes turned into the envelopes the router
would put on the bus, and the final table state they leave behind.

Used by the lake's tests (answers computed from :attr:`LakeDataset.items` and
:attr:`LakeDataset.published`, never from the lake) and by ``bench/lake.py``. Pure: the
write path's own planning (:func:`producers.write_plan.build_item`,
:func:`~producers.write_plan.plan_update`) builds every item, the stream router
(:func:`producers.stream_router.to_envelope`) turns each change into its envelope
from a DynamoDB-shaped stream record, and the event registry builds the published ones;
nothing is written anywhere.

Besides the generator's data, :func:`build_dataset` can add the changes a current table
must get right: a soft delete, a hard delete, a TTL expiry, a tenant move, a foreign
writer's unversioned changes followed by a versioned one, and late events (archived
days after they happened).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from auxeira.runtime.dead_letters import DeadLetterStore
from auxeira.runtime.objects import ObjectStore
from producers.stream_router import to_envelope
from producers.synthetic.config import WorkloadConfig
from producers.synthetic.ops import Create, Publish, Update
from producers.synthetic.plan import phases
from producers.write_plan import build_item, plan_update, resolve_target
from schemas import catalog
from schemas.envelope import Envelope, encode, partition_key
from schemas.events import registry
from schemas.wire.dynamodb import serialize_item

__all__ = ["LakeDataset", "Timed", "archive", "build_dataset", "kinesis_batches", "stream_record"]

ACCOUNT = "123456789012"
PUBLISHER = "lake-dataset"
_TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


@dataclass(frozen=True)
class Timed:
    """An envelope and when Kinesis received it (epoch seconds)."""

    envelope: Envelope
    arrival: float


@dataclass
class LakeDataset:
    """What the generator wrote: envelopes in bus order, and the source of truth.

    Attributes:
        events: every envelope with its arrival time, in the order they reach Kinesis.
        items: the tables' final state: (entity, key) -> the stored item (plain values).
        published: the published events' envelopes (facts with no table).
    """

    env: str
    events: list[Timed] = field(default_factory=list)
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    published: list[Envelope] = field(default_factory=list)
    awkward: dict[str, Any] = field(default_factory=dict)

    @property
    def envelopes(self) -> list[Envelope]:
        return [t.envelope for t in self.events]


class _Writer:
    """Keeps the tables' state and a stream position per table while changes are planned."""

    def __init__(self, env: str, data: LakeDataset, clock: datetime):
        self.env, self.data, self.clock = env, data, clock
        self.sequence = itertools.count(10**20)

    def tick(self, at: datetime | None) -> datetime:
        """The time of the next change: the op's own (units are in time order), else just after the last."""
        self.clock = at if at is not None else self.clock + timedelta(milliseconds=1)
        return self.clock

    def emit(self, record: dict[str, Any], delay: timedelta = timedelta(seconds=1)) -> None:
        envelope = to_envelope(record)
        self.data.events.append(Timed(envelope, (envelope.occurred_at + delay).timestamp()))

    def create(self, entity: str, values: Mapping[str, Any], actor: str, at: datetime | None = None) -> None:
        now = self.tick(at)
        item = build_item(entity, values, actor=actor, now=now)
        self._store(entity, None, item, now)

    def update(self, entity: str, key: Any, changes: Mapping[str, Any], actor: str, at: datetime | None = None) -> None:
        now = self.tick(at)
        target = resolve_target(entity, key, lambda t: t.physical_name(self.env))
        current = self.data.items[(entity, target.key_str)]
        plan = plan_update(target, current, changes, actor=actor, now=now)
        self._store(entity, current, plan.image, now)

    def remove(self, entity: str, key: str, at: datetime | None = None, *, ttl: bool = False) -> None:
        now = self.tick(at)
        old = self.data.items.pop((entity, key))
        self.emit(self.record(entity, "REMOVE", old, None, now, identity=_TTL_IDENTITY if ttl else None))

    def put_raw(self, entity: str, item: dict[str, Any], at: datetime | None = None) -> None:
        """A foreign writer's put: stored as given (no validation, no ``version``)."""
        now = self.tick(at)
        table = catalog.table_of_entity(entity)
        old = self.data.items.get((entity, table.key_of(item)))
        self._store(entity, old, item, now)

    def _store(self, entity: str, old: dict[str, Any] | None, new: dict[str, Any], now: datetime) -> None:
        table = catalog.table_of_entity(entity)
        self.data.items[(entity, table.key_of(new))] = new
        self.emit(self.record(entity, "MODIFY" if old is not None else "INSERT", old, new, now))

    def record(
        self,
        entity: str,
        name: str,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        at: datetime,
        identity: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        table = catalog.table_of_entity(entity)
        return stream_record(
            table.physical_name(self.env), name, old, new, str(next(self.sequence)), at, table.key_attrs, identity
        )


def stream_record(
    table_name: str,
    name: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    sequence: str,
    at: datetime,
    key_attrs: tuple[str, ...],
    identity: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A DynamoDB stream record in the Lambda event shape (``NEW_AND_OLD_IMAGES``)."""
    image = new if new is not None else old
    assert image is not None
    ddb: dict[str, Any] = {
        "Keys": serialize_item({k: image[k] for k in key_attrs}),
        "SequenceNumber": sequence,
        "ApproximateCreationDateTime": at.timestamp(),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        ddb["NewImage"] = serialize_item(new)
    if old is not None:
        ddb["OldImage"] = serialize_item(old)
    record: dict[str, Any] = {
        "eventID": sequence,
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table_name}/stream/2026-01-01T00:00:00.000",
        "dynamodb": ddb,
    }
    if identity is not None:
        record["userIdentity"] = dict(identity)
    return record


def build_dataset(config: WorkloadConfig, *, env: str = "lake", awkward: bool = False) -> LakeDataset:
    """Every change the generator plans for ``config`` (via the repository, with the
    dashboards published), as envelopes; with ``awkward``, the hard cases too."""
    data = LakeDataset(env)
    writer = _Writer(env, data, datetime.combine(config.as_of, datetime.min.time(), UTC) - timedelta(days=400))
    for phase in phases(config):
        for unit in phase:
            for op in unit.build():
                _apply(writer, op)
    if awkward:
        _awkward(writer)
    data.events.sort(key=lambda t: t.arrival)
    return data


def _apply(writer: _Writer, op: Create | Update | Publish) -> None:
    if isinstance(op, Create):
        writer.create(op.entity, op.values, op.actor, op.at)
    elif isinstance(op, Update):
        writer.update(op.entity, op.key, op.changes, op.actor, op.at)
    else:
        envelope = registry.to_envelope(op.event, PUBLISHER)
        writer.data.published.append(envelope)
        writer.data.events.append(Timed(envelope, envelope.occurred_at.timestamp() + 1))


def _first(items: Iterable[tuple[str, str]], entity: str) -> str:
    return next(key for e, key in items if e == entity)


def _awkward(writer: _Writer) -> None:
    """The changes a current table must get right (see the module docstring)."""
    data, items = writer.data, writer.data.items
    startups = [k for e, k in items if e == "startup"]
    soft, moved_doc = startups[0], _first(items, "document")
    writer.update(
        "startup", soft, {"deleted_at": writer.clock, "deleted_by": "admin", "deleted_reason": "duplicate"}, "admin"
    )
    deleted_activity = _first(items, "activity")
    writer.remove("activity", deleted_activity)
    expired = _first(items, "chatbot_message")
    writer.remove("chatbot_message", expired, ttl=True)
    other_tenant = sorted({i["tenant_id"] for i in items.values() if "tenant_id" in i})[-1]
    moved_to = other_tenant if items[("document", moved_doc)]["tenant_id"] != other_tenant else "moved-tenant"
    writer.update("document", moved_doc, {"tenant_id": moved_to}, "admin")
    # Mixed writers: a foreign service creates and changes a startup without a version
    # (ordered by the stream among themselves), then the repository's first versioned
    # write outranks them; and a writer changes a versioned item without bumping it.
    foreign = {k: v for k, v in items[("startup", startups[1])].items() if k != "version"}
    foreign_id = f"foreign-{foreign['startup_id']}"
    foreign.update(startup_id=foreign_id, PK=f"STARTUP#{foreign_id}", tagline="written by a foreign service")
    writer.put_raw("startup", foreign)
    writer.put_raw("startup", {**foreign, "tagline": "foreign again"})
    foreign_key = f"STARTUP#{foreign_id}|PROFILE"
    writer.update("startup", foreign_key, {"tagline": "versioned at last"}, "admin")
    unbumped = dict(items[("startup", startups[1])])
    writer.put_raw("startup", {**unbumped, "tagline": "not bumped", "added_by_foreign": {"x": 1, "big": 2**70}})
    late_key = startups[2]
    # A late event: it happened three days before it reached the bus.
    writer.tick(None)
    at = writer.clock - timedelta(days=3)
    current = items[("startup", late_key)]
    target = resolve_target("startup", late_key, lambda t: t.physical_name(writer.env))
    plan = plan_update(target, current, {"sse_score": 99}, actor="late-writer", now=at)
    items[("startup", late_key)] = plan.image
    record = writer.record("startup", "MODIFY", current, plan.image, at)
    writer.emit(record, delay=timedelta(days=3))
    data.awkward = {
        "soft_deleted": ("startup", soft),
        "deleted": ("activity", deleted_activity),
        "expired": ("chatbot_message", expired),
        "moved": ("document", moved_doc, moved_to),
        "foreign": ("startup", foreign_key),
        "unbumped": ("startup", startups[1]),
        "late": ("startup", late_key),
    }


def kinesis_batches(
    events: Iterable[Timed],
    *,
    shards: int = 2,
    batch_size: int = 500,
    stream: str = "auxeira-events-lake",
    first_sequence: int = 0,
) -> Iterator[list[dict[str, Any]]]:
    """Lambda-shaped Kinesis batches of these events: each to the shard of its partition
    key, sequence numbers increasing per shard (from ``first_sequence``, for events put
    after an earlier call's), batches of one shard in order."""
    by_shard: dict[int, list[dict[str, Any]]] = {}
    base = 49_000_000_000_000_000_000_000_000 + first_sequence
    counters = [itertools.count(base + n * 10**20) for n in range(shards)]
    for timed in events:
        key = partition_key(timed.envelope)
        shard = int(hashlib.md5(key.encode()).hexdigest(), 16) % shards
        sequence = str(next(counters[shard]))
        by_shard.setdefault(shard, []).append(_kinesis_record(timed, key, shard, sequence, stream))
    for shard in sorted(by_shard):
        records = by_shard[shard]
        for start in range(0, len(records), batch_size):
            yield records[start : start + batch_size]


def _kinesis_record(timed: Timed, key: str, shard: int, sequence: str, stream: str) -> dict[str, Any]:
    shard_id = f"shardId-{shard:012d}"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(encode(timed.envelope)).decode("ascii"),
            "approximateArrivalTimestamp": timed.arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{stream}",
    }


def archive(
    objects: ObjectStore,
    batches: Iterable[list[dict[str, Any]]],
    *,
    deliveries: int = 1,
    dead_letters: DeadLetterStore | None = None,
) -> int:
    """Run the archiver's handler over ``batches`` (each delivered ``deliveries`` times, as a
    redelivery would); returns the records that failed (0 when all were archived)."""
    from auxeira.runtime.dead_letters import DeadLetterStore as Store
    from consumers.handlers.archiver import build_handler
    from consumers.sinks.archive import ArchiveSink

    handle = build_handler(ArchiveSink(objects), dead_letters or Store(objects), clock=_no_age)
    failed = 0
    for batch in batches:
        for _ in range(deliveries):
            failed += len(handle({"Records": batch}, None)["batchItemFailures"])
    return failed


def _no_age() -> float:
    """The handler's clock for archiving old generated events: never past the record age."""
    return 0.0
