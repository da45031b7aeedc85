"""Keeping erased subjects erased: what replay and redrive do with records of erased subjects.

A cache tombstone refuses a stale write for seven days and a search tombstone for good,
but a wiped store has none, and an erased item key is not even a tombstone any more
(``auxeira erase`` removes them). The durable guard is the erasure ledger
(:mod:`auxeira.operations.erase_ledger`): keyed hashes of every erased subject, item and
pii value. :class:`ErasureGuard` reads it once and passes every record of a replay or a
redrive through :func:`schemas.erasure.scrub_envelope`:

* a record of an erased *owned* item, or a published occurrence of an erased subject,
  is **skipped**: it never reaches the handler;
* a record of a *shared* item is delivered **scrubbed**, exactly as the erasure rewrote
  the item: the subject's ids as its pseudonym, its pii gone. Skipping it would lose
  the change for everybody else (a startup's activity count);
* any other record is delivered byte for byte.

A KPL aggregated record is unpacked, filtered and packed again. A DynamoDB stream record
(a router redrive) is judged on its images, the way the router would turn it into an
envelope.

The ledger's hashes are keyed with the lake's pii key (:func:`glue_jobs.pii.resolve_key`):
a local lake uses the development key; a lake on S3 needs the key, and a replay or
redrive refuses to run without it once the lake holds an erasure.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from auxeira.operations.erase_ledger import read_ledger
from auxeira.runtime.handlers import Handler
from auxeira.runtime.objects import ObjectStore
from glue_jobs.pii import PiiKeyError, resolve_key
from schemas import catalog
from schemas.erasure import ErasureKeys, Matcher, ledger_matcher, relation, scrub_envelope, scrubbed
from schemas.errors import PoisonRecordError, UnknownTableError
from schemas.wire.dynamodb import deserialize_item, serialize_item
from schemas.wire.kpl import MAGIC, deaggregate, is_aggregated, kpl_module

__all__ = ["ErasureGuard", "guarded", "load_guard"]


class ErasureGuard:
    """Every erased subject of one lake (see the module docstring)."""

    def __init__(self, keys: ErasureKeys, matcher: Matcher, items: frozenset[str]):
        self.keys = keys
        self.matcher = matcher
        self.items = items
        self.skipped = 0
        self.scrubbed = 0

    def erased_item(self, entity: str, key: str) -> bool:
        return self.keys.item_hash(entity, key) in self.items

    def envelope(self, data: bytes) -> bytes | None:
        """One envelope's bytes as they may be delivered: unchanged, scrubbed, or None (skip)."""
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data  # poison stays poison: its consumer dead-letters it
        if not isinstance(doc, dict):
            return data
        kept = scrub_envelope(doc, self.matcher, self.erased_item)
        if kept is None:
            return None
        return data if kept == doc else orjson.dumps(kept)

    def records(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The records to deliver, in order; counts what it skipped and scrubbed."""
        out = []
        for record in records:
            kept = self._record(record)
            if kept is None:
                self.skipped += 1
            else:
                self.scrubbed += kept is not record
                out.append(kept)
        return out

    def _record(self, record: Mapping[str, Any]) -> Any:
        if "kinesis" in record:
            return self._kinesis(record)
        if "dynamodb" in record:
            return self._stream_record(record)
        return record

    def _kinesis(self, record: Mapping[str, Any]) -> Any:
        try:
            data = base64.b64decode(record["kinesis"]["data"])
            payloads = deaggregate(data)
        except (KeyError, ValueError, PoisonRecordError):
            return record
        kept = [p for p in (self.envelope(p) for p in payloads) if p is not None]
        if not kept:
            return None
        if kept == payloads:
            return record
        body = kept[0] if not is_aggregated(data) else _aggregate(kept, str(record["kinesis"].get("partitionKey", "")))
        return {**record, "kinesis": {**record["kinesis"], "data": base64.b64encode(body).decode("ascii")}}

    def _stream_record(self, record: Mapping[str, Any]) -> Any:
        table = str(record.get("eventSourceARN", "")).partition(":table/")[2].split("/", 1)[0]
        try:
            spec = catalog.resolve(table)[0]
        except UnknownTableError:
            return record
        ddb = dict(record.get("dynamodb") or {})
        changed = False
        for side in ("OldImage", "NewImage"):
            if not ddb.get(side):
                continue
            try:
                image = deserialize_item(ddb[side])
                entity = spec.entity_for(image)
            except (ValueError, PoisonRecordError):
                return record
            if self.erased_item(entity.name, spec.key_of(image)):
                return None
            found = relation(entity, image, self.matcher)
            if found == "owned":
                return None
            if found is not None:
                ddb[side], changed = serialize_item(scrubbed(entity, image, self.matcher)), True
        return {**record, "dynamodb": ddb} if changed else record


def load_guard(objects: ObjectStore, key: bytes | None = None) -> ErasureGuard | None:
    """The guard of a lake's ledger; None when nothing was ever erased there.

    Raises:
        ValueError: the lake holds erasures, is on S3 and no key was given (a replay or
            redrive without the key could bring an erased subject back).
    """
    entries = read_ledger(objects)
    if not entries:
        return None
    try:
        keys = ErasureKeys(key or resolve_key(objects.root))
    except PiiKeyError as exc:
        raise ValueError(
            f"the lake holds {len(entries)} erasures; the pii key is needed to keep their subjects out: {exc}"
        ) from None
    subjects = [e.subject for e in entries]
    pii = [h for e in entries for h in e.pii]
    items = frozenset(h for e in entries for h in e.items)
    return ErasureGuard(keys, ledger_matcher(keys, subjects, pii), items)


def guarded(handler: Handler, guard: ErasureGuard, on_skip: Callable[[int], None] | None = None) -> Handler:
    """``handler`` fed only what ``guard`` lets through (a batch of skipped records is not delivered)."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        before = guard.skipped
        records = guard.records(event.get("Records") or [])
        if on_skip is not None and guard.skipped > before:
            on_skip(guard.skipped - before)
        if not records:
            return {"batchItemFailures": []}
        return handler({**event, "Records": records}, context) or {"batchItemFailures": []}

    return handle


def _aggregate(payloads: Sequence[bytes], partition_key: str) -> bytes:
    """A KPL aggregated record of these user records (what :func:`schemas.wire.kpl.deaggregate` reads)."""
    message = kpl_module().messages_pb2.AggregatedRecord()
    message.partition_key_table.append(partition_key or "erased")
    for payload in payloads:
        member = message.records.add()
        member.partition_key_index = 0
        member.data = payload
    body = message.SerializeToString()
    return MAGIC + body + hashlib.md5(body).digest()
