"""The dead-letter store: a record that cannot be processed is written here with its payload
and its cause, then skipped, so it never blocks its shard.

Unlike a Lambda on-failure destination (SQS and SNS record only positions, S3 records
no cause), a dead letter holds the record itself and says why it was set aside, so it
can be inspected and redriven after the stream no longer retains it. Its secrets are
redacted before it is written (:func:`schemas.secrets.redact_record`, with the table
spec's secret paths when the record comes from a known table): no password hash or tax
id ever reaches the lake through a dead letter.

Layout, under the lake root (a local directory, or ``s3://bucket/prefix`` on AWS)::

    dlq/{consumer}/dt=YYYY-MM-DD/{source}-{shard}-{sequence}.json

``source`` is a digest of the record's stream ARN, so two tables whose streams share a
label and a sequence number, or two shards of one stream, never share a name. The name
is the record's position, so dead-lettering the same record twice (a crash between the
write and the checkpoint) leaves one object, not two.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from auxeira.runtime.objects import LocalObjects, ObjectStore, object_store
from schemas import catalog
from schemas.errors import UnknownTableError
from schemas.resources import LAKE
from schemas.secrets import redact_record

__all__ = [
    "DeadLetter",
    "DeadLetterStore",
    "LocalDeadLetters",
    "S3DeadLetters",
    "dead_letter_store",
    "record_position",
    "secret_paths_of",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def record_position(raw: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(source ARN, shard id, sequence number)`` of a Lambda-shaped Kinesis or DynamoDB record.

    The shard of a Kinesis record is the part of ``eventID`` before the colon
    (``shardId-000000000001:4959...``); a DynamoDB record's ``eventID`` names no shard,
    so its stream label stands in (the local runner and replay pass the real one).
    """
    arn = str(raw.get("eventSourceARN", ""))
    if "kinesis" in raw:
        shard = str(raw.get("eventID", "")).partition(":")[0] or "unknown"
        return arn, shard, str(raw["kinesis"].get("sequenceNumber", ""))
    ddb = raw.get("dynamodb") or {}
    return arn, str(raw.get("shardId") or arn.rsplit("/", 1)[-1] or "unknown"), str(ddb.get("SequenceNumber", ""))


def secret_paths_of(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Every secret path of the table a DynamoDB stream record comes from (none if unknown)."""
    arn = str(raw.get("eventSourceARN", ""))
    _, sep, rest = arn.partition(":table/")
    if not sep:
        return ()
    try:
        spec, _env = catalog.resolve(rest.split("/", 1)[0])
    except UnknownTableError:
        return ()
    return tuple(sorted({path for entity in spec.entities for path in entity.secret}))


@dataclass(frozen=True)
class DeadLetter:
    """One record that could not be processed, with everything needed to redrive it.

    Attributes:
        record: the Lambda-shaped record, secrets redacted.
        error_type: why (``PoisonRecordError``, ``RecordAgeExceeded``, ...).
        message: the cause in words: which table, key and attribute, or the last error.
    """

    consumer: str
    shard_id: str
    sequence_number: str
    error_type: str
    message: str
    record: dict[str, Any]
    attempts: int = 1
    source_arn: str = ""
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def id(self) -> str:
        """The letter's key under the lake root (what ``auxeira dlq show`` takes)."""
        return self.relative_path()

    def relative_path(self) -> str:
        day = self.at[:10]
        source = hashlib.sha256(self.source_arn.encode()).hexdigest()[:12] if self.source_arn else "nosource"
        name = _UNSAFE.sub("_", f"{source}-{self.shard_id}-{self.sequence_number}")
        return f"{LAKE.dead_letters}/{_UNSAFE.sub('_', self.consumer)}/dt={day}/{name}.json"

    def redacted(self) -> DeadLetter:
        """This letter with the record's secrets replaced (what is stored)."""
        return replace(self, record=redact_record(self.record, secret_paths_of(self.record)))

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2, default=str)

    @classmethod
    def from_json(cls, body: bytes) -> DeadLetter:
        data = orjson.loads(body)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class DeadLetterStore:
    """Dead letters in an object store (a directory, or S3)."""

    def __init__(self, objects: ObjectStore):
        self.objects = objects

    @property
    def root(self) -> str:
        return self.objects.root

    def put(self, letter: DeadLetter) -> str:
        """Store a letter, secrets redacted; returns its id."""
        stored = letter.redacted()
        self.objects.put(stored.relative_path(), stored.to_json())
        return stored.id

    def list(self, consumer: str | None = None) -> Iterator[DeadLetter]:
        prefix = f"{LAKE.dead_letters}/{consumer}/" if consumer else f"{LAKE.dead_letters}/"
        for key in self.objects.list(prefix):
            if key.endswith(".json"):
                yield DeadLetter.from_json(self.objects.get(key))

    def get(self, letter_id: str) -> DeadLetter:
        return DeadLetter.from_json(self.objects.get(letter_id))


class LocalDeadLetters(DeadLetterStore):
    """Dead letters as JSON files under a local lake root."""

    def __init__(self, root: Any):
        super().__init__(LocalObjects(root))


class S3DeadLetters(DeadLetterStore):
    """Dead letters as S3 objects under ``s3://bucket/prefix``."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        from auxeira.runtime.objects import S3Objects

        super().__init__(S3Objects(client, bucket, prefix))


def dead_letter_store(lake_root: str, s3_client: Any = None) -> DeadLetterStore:
    """The store for a lake root: S3 for ``s3://`` roots, a directory otherwise."""
    return DeadLetterStore(object_store(lake_root, s3_client))
