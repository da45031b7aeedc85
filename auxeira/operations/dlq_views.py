"""What ``dlq list`` and ``dlq show`` print: groups of items, and one item with its records readable.

A Kinesis record's ``data`` is base64 of an envelope's JSON (or of a KPL aggregated record
holding several); :func:`readable_record` decodes it so the reader sees the envelope, not
base64. Data that does not decode (often why the record is a dead letter) is shown as it
is, with the reason. Every record is redacted once more before it is shown: dead letters
are stored redacted, but on AWS a router's failure record carries the raw table images,
secrets included (:mod:`auxeira.runtime.failure_records`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from auxeira.operations.dlq_items import DlqItem
from auxeira.runtime.dead_letters import secret_paths_of
from schemas.errors import PoisonRecordError
from schemas.secrets import redact_record
from schemas.wire.kpl import deaggregate

__all__ = ["Group", "group_items", "readable_record"]


@dataclass
class Group:
    """Items of one consumer and error type: how many, and since when."""

    consumer: str
    error_type: str
    dead_letters: int = 0
    failure_records: int = 0
    records: int = 0
    oldest: str = ""
    newest: str = ""

    @property
    def count(self) -> int:
        return self.dead_letters + self.failure_records

    def add(self, item: DlqItem) -> None:
        if item.kind == "dead_letter":
            self.dead_letters += 1
        else:
            self.failure_records += 1
        self.records += item.batch_size
        at = _utc(item.at)
        self.oldest = min(self.oldest or at, at)
        self.newest = max(self.newest, at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "error_type": self.error_type,
            "count": self.count,
            "dead_letters": self.dead_letters,
            "failure_records": self.failure_records,
            "records": self.records,
            "oldest": self.oldest,
            "newest": self.newest,
        }


def group_items(items: Iterable[DlqItem]) -> list[Group]:
    """One group per (consumer, error type), sorted by consumer then by size."""
    groups: dict[tuple[str, str], Group] = {}
    for item in items:
        key = (item.consumer, item.error_type)
        groups.setdefault(key, Group(*key)).add(item)
    return sorted(groups.values(), key=lambda g: (g.consumer, -g.count, g.error_type))


def readable_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A record for reading: redacted, a Kinesis record's data decoded to its envelopes."""
    record = redact_record(raw, secret_paths_of(raw))
    kinesis = record.get("kinesis")
    if not isinstance(kinesis, dict):
        return record
    shown = {k: v for k, v in kinesis.items() if k != "data"}
    try:
        data = base64.b64decode(str(kinesis.get("data", "")), validate=True)
        parts = deaggregate(data)
        shown["envelopes"] = [orjson.loads(part) for part in parts]
        if len(parts) > 1:
            shown["aggregated"] = True
    except (binascii.Error, ValueError, PoisonRecordError, orjson.JSONDecodeError) as exc:
        shown["data_error"] = f"{type(exc).__name__}: {exc}"
        shown["data"] = kinesis.get("data")
    return {**record, "kinesis": shown}


def _utc(text: str) -> str:
    """An ISO time in UTC with ``Z`` (dead letters say ``+00:00``, failure records ``Z``)."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
