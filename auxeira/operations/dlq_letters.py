"""What a redrive writes: the dead letters a handler rewrote, and the archived copy of what it moved.

Three rules, each there for a reason:

1. **Counters see a redriven record under a shard label of its own.** The counters sink
   is exactly-once through a watermark per shard on each counter item
   (:mod:`consumers.sinks.counters_dynamo`): once later records of the shard were applied,
   the watermark is past a dead-lettered record, and redriving it under its real shard
   would be taken for a replay and ignored. So a record goes to the counters handler with
   ``eventID`` naming ``redrive-<digest of its position>``: the first redrive applies it,
   a rerun (after a kill -9) finds the label's watermark at its sequence and does nothing.
   Cache and search order by the envelope's (version, table sequence), not by Kinesis
   positions, so they get the record as it is.
2. **A record still failing stays one letter, where it was.** The handler writes a letter
   for the record it was given (today's partition, the label above); :func:`settle` puts
   the letter back under its original id with the new cause and one more attempt, then
   deletes the handler's copy if it is another object. Written first, deleted second: a
   kill -9 between leaves two letters of one record, and rerunning redrives both
   harmlessly (same label, same watermark; the other sinks are version-guarded).
3. **Nothing moves without its copy written first.** :func:`archive` writes
   ``redriven/{key}`` (the original document, the outcome, the time, the earlier redrives
   of the same key) and only then deletes the original.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import orjson

from auxeira.operations.dlq_items import DEAD_LETTER, DlqItem, Stores
from auxeira.runtime.dead_letters import DeadLetter, DeadLetterStore, record_position
from schemas.resources import LAKE

__all__ = ["REDRIVE_SHARD", "archive", "archive_key", "label_of", "relabel", "settle"]

REDRIVE_SHARD = "redrive-"


def label_of(item: DlqItem) -> str:
    """The counters' shard label of an item: from its position, so it survives a rerun."""
    if item.shard_id.startswith(REDRIVE_SHARD):
        return item.shard_id  # a letter a redrive wrote before settling it
    basis = f"{item.source_arn}|{item.shard_id}|{item.first_sequence}|{item.last_sequence}"
    return REDRIVE_SHARD + hashlib.sha256(basis.encode()).hexdigest()[:16]


def relabel(record: dict[str, Any], label: str) -> dict[str, Any]:
    """A Kinesis record as the counters handler should see it on a redrive (rule 1)."""
    if "kinesis" not in record or str(record.get("eventID", "")).startswith(REDRIVE_SHARD):
        return record
    return {**record, "eventID": f"{label}:{record['kinesis']['sequenceNumber']}"}


def settle(
    stores: Stores,
    item: DlqItem,
    sent: Sequence[dict[str, Any]],
    originals: Sequence[dict[str, Any]],
    dead_lettered: Sequence[tuple[str, str]],
    days: Sequence[date],
) -> list[DeadLetter]:
    """Rule 2 for every record the handler dead-lettered; returns the letters as kept.

    Args:
        sent, originals: the records as given to the handler, and as they were.
        dead_lettered: ``(sequence number, error type)`` the handler reported.
        days: the days the handler's call spanned (its letter's partition is one of them).
    """
    letters = DeadLetterStore(stores.lake)
    pairs = {_sequence(s): (s, o) for s, o in zip(sent, originals, strict=True)}
    kept_letters: list[DeadLetter] = []
    for sequence, _error in dead_lettered:
        if sequence not in pairs:
            continue
        given, original = pairs[sequence]
        found = _written(stores, item.consumer, given, days)
        if found is None:
            continue
        written_key, written = found
        if item.kind == DEAD_LETTER and item.letter is not None:
            kept = replace(
                item.letter, error_type=written.error_type, message=written.message, attempts=item.letter.attempts + 1
            )
        else:
            kept = replace(written, shard_id=record_position(original)[1], record=original)
        kept_id = letters.put(kept)
        if written_key != kept_id:
            stores.lake.delete(written_key)
        kept_letters.append(kept)
    return kept_letters


def archive_key(item: DlqItem) -> str:
    """Where an item moves when redriven, in the store it lives in."""
    return f"{LAKE.redriven}/{item.key}"


def archive(stores: Stores, item: DlqItem, entry: dict[str, Any]) -> str:
    """Rule 3: write ``redriven/{key}`` with ``entry`` (outcome, time, counts), then delete the original."""
    store, key = item.store, archive_key(item)
    previous: list[dict[str, Any]] = []
    if store.exists(key):  # an earlier run archived it and died before deleting the original
        old = orjson.loads(store.get(key))
        previous = [*old.get("previous", []), {k: old.get(k) for k in entry}]
    original = orjson.loads(store.get(item.key))
    document = {"id": item.id, "kind": item.kind, "consumer": item.consumer, **entry, "previous": previous}
    document["original"] = original
    store.put(key, orjson.dumps(document, option=orjson.OPT_INDENT_2))
    store.delete(item.key)
    return stores.id_of(store, key)


def _written(
    stores: Stores, consumer: str, record: dict[str, Any], days: Sequence[date]
) -> tuple[str, DeadLetter] | None:
    """The letter the handler wrote for ``record`` (its name is the record's position and the day)."""
    arn, shard, sequence = record_position(record)
    for day in dict.fromkeys(days):
        probe = DeadLetter(consumer, shard, sequence, "", "", {}, source_arn=arn, at=day.isoformat())
        key = probe.relative_path()
        if stores.lake.exists(key):
            return key, DeadLetter.from_json(stores.lake.get(key))
    return None


def _sequence(record: dict[str, Any]) -> str:
    return record_position(record)[2]
