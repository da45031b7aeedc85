"""What an erasure leaves under the lake's ``_erasures/``: the ledger, the records, the plans in progress.

Layout (:attr:`schemas.resources.LakeLayout.erasures`)::

    _erasures/ledger/{subject hash}.json        the durable guard: who and what was erased
    _erasures/records/{sequence:08d}.json       one tamper-evident record per erasure
    _erasures/in-progress/{subject hash}.json   the plan of an erasure not finished yet

**The ledger** holds keyed hashes only (:class:`schemas.erasure.ErasureKeys`): the
subject's, every erased item's (entity and key) and the subject's pii values'. Replay
and redrive read it to keep erased subjects from coming back
(:mod:`auxeira.operations.erase_guard`). It is written *before* the first delete, so a
replay running while an erasure is under way already skips the subject.

**A record** says who asked, when, why, what was removed per store (object, row and
item counts, never keys or values: item keys only as counts per entity, the subject as
its keyed hash), what may still hold the subject and until when, and what the final scan
looked at. Records form a SHA-256 hash chain: each carries the hash of the one before
(64 zeros for the first) and its own hash over ``previous`` and its canonical JSON
(sorted keys, no spaces). Changing, removing or reordering any record breaks every hash
after it (:func:`verify_chain`). Appends take a lease in the checkpoints table, so two
erasures never write the same sequence number.

**A plan in progress** is the one place an erasure keeps the subject's item keys in
clear (it must know what to delete after a kill -9): it is removed when the erasure
completes, and the final scan looks there too for every plan but the erasure's own.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.objects import ObjectStore
from schemas.resources import LAKE

__all__ = [
    "GENESIS",
    "IN_PROGRESS",
    "LEDGER",
    "RECORDS",
    "ChainProblem",
    "LedgerEntry",
    "append_record",
    "canonical",
    "read_ledger",
    "read_records",
    "record_hash",
    "verify_chain",
    "write_ledger",
]

LEDGER = f"{LAKE.erasures}/ledger/"
RECORDS = f"{LAKE.erasures}/records/"
IN_PROGRESS = f"{LAKE.erasures}/in-progress/"
GENESIS = "0" * 64
_LEASE = ("erase", "records")


def canonical(body: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash is over: sorted keys, no whitespace."""
    return orjson.dumps(dict(body), option=orjson.OPT_SORT_KEYS)


def record_hash(previous: str, body: Mapping[str, Any]) -> str:
    """SHA-256 of the previous record's hash and this record's canonical body (without ``hash``)."""
    content = {k: v for k, v in body.items() if k != "hash"}
    return hashlib.sha256(previous.encode("ascii") + canonical(content)).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    """A record that does not fit the chain, and why."""

    key: str
    reason: str


def verify_chain(records: Sequence[tuple[str, Mapping[str, Any]]]) -> list[ChainProblem]:
    """Every break in a chain of ``(object key, record)``, in sequence order; [] when intact.

    Checked per record: its sequence follows the one before, ``previous`` is that record's
    hash, and ``hash`` recomputes from ``previous`` and the body.
    """
    problems: list[ChainProblem] = []
    previous, expected = GENESIS, 1
    for key, record in records:
        if record.get("sequence") != expected:
            problems.append(ChainProblem(key, f"sequence {record.get('sequence')} where {expected} was expected"))
        if record.get("previous") != previous:
            problems.append(ChainProblem(key, "previous does not name the hash of the record before it"))
        if record.get("hash") != record_hash(str(record.get("previous", "")), record):
            problems.append(ChainProblem(key, "its hash does not match its content: the record was changed"))
        previous, expected = str(record.get("hash", "")), expected + 1
    return problems


def read_records(objects: ObjectStore) -> list[tuple[str, dict[str, Any]]]:
    """Every erasure record, in sequence order (by object name)."""
    return [(key, orjson.loads(objects.get(key))) for key in objects.list(RECORDS) if key.endswith(".json")]


def append_record(
    objects: ObjectStore,
    checkpoints: Checkpoints,
    body: Mapping[str, Any],
    *,
    owner: str,
    wait_seconds: float = 60.0,
) -> tuple[str, dict[str, Any]]:
    """Chain ``body`` after the last record and store it; returns ``(key, record)``.

    Idempotent per ``request_id``: when a record of the same request exists already (a
    rerun after a kill between this write and the plan's removal), that one is returned.

    Raises:
        TimeoutError: another erasure held the records' lease for ``wait_seconds``.
    """
    deadline = time.monotonic() + wait_seconds
    while not checkpoints.acquire(*_LEASE, owner, ttl_seconds=30.0):
        if time.monotonic() > deadline:
            raise TimeoutError("another erasure is appending its record; try again")
        time.sleep(0.2)
    try:
        existing = read_records(objects)
        for key, record in existing:
            if record.get("request_id") == body.get("request_id"):
                return key, record
        previous = str(existing[-1][1].get("hash")) if existing else GENESIS
        sequence = len(existing) + 1
        record = {**body, "sequence": sequence, "previous": previous}
        record["hash"] = record_hash(previous, record)
        key = f"{RECORDS}{sequence:08d}.json"
        objects.put(key, orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return key, record
    finally:
        checkpoints.release(*_LEASE, owner)


@dataclass
class LedgerEntry:
    """One erased subject, by keyed hashes only."""

    subject: str
    items: set[str] = field(default_factory=set)
    pii: set[str] = field(default_factory=set)
    request_ids: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        body = {
            "subject": self.subject,
            "items": sorted(self.items),
            "pii": sorted(self.pii),
            "request_ids": self.request_ids,
        }
        return orjson.dumps(body, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, body: bytes) -> LedgerEntry:
        data = orjson.loads(body)
        return cls(
            str(data["subject"]), set(data.get("items", ())), set(data.get("pii", ())), data.get("request_ids", [])
        )


def write_ledger(
    objects: ObjectStore, subject: str, items: Iterable[str], pii: Iterable[str], request_id: str
) -> LedgerEntry:
    """Add to the subject's ledger entry (a subject erased twice keeps the union of both)."""
    key = f"{LEDGER}{subject}.json"
    entry = LedgerEntry.from_json(objects.get(key)) if objects.exists(key) else LedgerEntry(subject)
    entry.items.update(items)
    entry.pii.update(pii)
    if request_id not in entry.request_ids:
        entry.request_ids.append(request_id)
    objects.put(key, entry.to_json())
    return entry


def read_ledger(objects: ObjectStore) -> list[LedgerEntry]:
    """Every ledger entry (none when nothing was ever erased)."""
    return [LedgerEntry.from_json(objects.get(k)) for k in objects.list(LEDGER) if k.endswith(".json")]
