"""The dead-letter store: a poison record is written here with its payload, then skipped.

Unlike a Lambda on-failure destination (which records only shard and sequence
positions), a dead letter holds the raw record itself, so it can be inspected and
redriven without the stream still retaining it.

Layout, under the lake root (a local directory, or ``s3://bucket/prefix`` on AWS)::

    dlq/{consumer}/dt=YYYY-MM-DD/{shard_id}-{sequence_number}.json

The name is the record's position, so dead-lettering the same record twice (a crash
between the write and the checkpoint) leaves one file, not two.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Protocol

import orjson

__all__ = ["DeadLetter", "DeadLetterStore", "LocalDeadLetters", "S3DeadLetters", "dead_letter_store"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class DeadLetter:
    """One record that could not be processed, with everything needed to redrive it."""

    consumer: str
    shard_id: str
    sequence_number: str
    error_type: str
    message: str
    record: dict[str, Any]
    attempts: int = 1
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def relative_path(self) -> str:
        day = self.at[:10]
        name = _UNSAFE.sub("_", f"{self.shard_id}-{self.sequence_number}")
        return f"dlq/{_UNSAFE.sub('_', self.consumer)}/dt={day}/{name}.json"

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2, default=str)


class DeadLetterStore(Protocol):
    def put(self, letter: DeadLetter) -> None: ...

    def list(self, consumer: str | None = None) -> Iterator[DeadLetter]: ...


class LocalDeadLetters:
    """Dead letters as JSON files under a local lake root."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def put(self, letter: DeadLetter) -> None:
        path = self.root / letter.relative_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a crash never leaves a half-written dead letter.
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(letter.to_json())
        os.replace(tmp, path)

    def list(self, consumer: str | None = None) -> Iterator[DeadLetter]:
        base = self.root / "dlq" / (consumer or "")
        for path in sorted(base.rglob("*.json")):
            yield DeadLetter(**orjson.loads(path.read_bytes()))


class S3DeadLetters:
    """Dead letters as S3 objects under ``s3://bucket/prefix``."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def put(self, letter: DeadLetter) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(letter.relative_path()), Body=letter.to_json(),
            ContentType="application/json",
        )

    def list(self, consumer: str | None = None) -> Iterator[DeadLetter]:
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = self._key(f"dlq/{consumer}/" if consumer else "dlq/")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                body = self.client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                yield DeadLetter(**orjson.loads(body))


def dead_letter_store(lake_root: str, s3_client: Any = None) -> DeadLetterStore:
    """The store for a lake root: S3 for ``s3://`` roots, a directory otherwise."""
    if lake_root.startswith("s3://"):
        bucket, _, prefix = lake_root[5:].partition("/")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3DeadLetters(s3_client, bucket, prefix)
    return LocalDeadLetters(lake_root)
