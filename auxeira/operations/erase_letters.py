"""The set-aside records' part of an erasure: dead letters, failure records and the redriven archive.

What each kind of object loses (all of them in the lake, and in the mappings' failure
bucket when one is configured):

* a **dead letter** holds one record: when that record is about the subject (its
  envelope, a Kinesis record's data decoded and de-aggregated, or a table stream record's
  images), the letter is deleted: it can never be redriven into an erased world;
* a **failure record** holds a batch of many users' records: the subject's are taken out
  of its payload (the rest stays redrivable, ``batchSize`` adjusted), and the object is
  deleted when none remains. One without payload holds only positions: nothing to purge;
* a **redriven** archive document (``redriven/...``) holds an original dead letter or
  failure record: it is deleted when the original mentions the subject.

"About the subject" is decided by :func:`mentions`: the subject's id (whole), one of its
pii values, one of its erased item keys, or a value whose keyed hash is a pii hash of the
plan. Each delete or rewrite is one object operation, so a kill -9 leaves every object
either purged or not yet, and a rerun purges what is left.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from auxeira.runtime.objects import ObjectStore
from schemas.erasure import MIN_PII_CHARS, id_pattern
from schemas.errors import PoisonRecordError
from schemas.resources import LAKE
from schemas.wire.kpl import deaggregate

__all__ = ["LetterResult", "Probe", "purge_letters", "record_text"]

_LAMBDA_PREFIX = "aws/lambda/"


@dataclass(frozen=True)
class Probe:
    """What the subject looks like in text: ids and keys whole, pii values, hashed pii values.

    Attributes:
        texts: the subject's id and erased item keys (matched as whole ids) and pii values.
        pii_hash: the keyed hash of a value (to compare with ``pii_hashes``), or None.
    """

    texts: tuple[str, ...]
    pii_hashes: frozenset[str] = frozenset()
    pii_hash: Callable[[str], str] | None = None

    def found_in(self, text: str) -> str | None:
        """What of the subject ``text`` holds (a label, never the value), or None."""
        for i, needle in enumerate(self.texts):
            if needle in text and id_pattern(needle).search(text):
                return "the subject's id" if i == 0 else "an erased key or a pii value"
        if self.pii_hashes and self.pii_hash is not None:
            for value in _strings(text):
                if len(value) >= MIN_PII_CHARS and self.pii_hash(value) in self.pii_hashes:
                    return "a pii value (by its hash)"
        return None


def _strings(text: str) -> Iterable[str]:
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ()
    out: list[str] = []
    stack = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            stack += list(node.values())
        elif isinstance(node, list):
            stack += node
    return out


def record_text(record: Any) -> str:
    """A Lambda-shaped record as text to search: Kinesis data decoded and de-aggregated."""
    if isinstance(record, dict) and isinstance(record.get("kinesis"), dict):
        try:
            data = base64.b64decode(record["kinesis"].get("data", ""))
            payloads = deaggregate(data)
        except (ValueError, PoisonRecordError):
            payloads = []
        texts = [p.decode("utf-8", "replace") for p in payloads]
        return orjson.dumps({**record, "kinesis": {**record["kinesis"], "data": texts}}).decode()
    return orjson.dumps(record, default=str).decode()


@dataclass
class LetterResult:
    dead_letters: list[str] = field(default_factory=list)
    failure_records_rewritten: list[str] = field(default_factory=list)
    failure_records_deleted: list[str] = field(default_factory=list)
    failure_records_purged: int = 0
    redriven: list[str] = field(default_factory=list)
    scanned: int = 0

    def totals(self) -> dict[str, int]:
        return {
            "objects_scanned": self.scanned,
            "dead_letters_deleted": len(self.dead_letters),
            "failure_records_rewritten": len(self.failure_records_rewritten),
            "failure_records_deleted": len(self.failure_records_deleted),
            "failure_record_records_purged": self.failure_records_purged,
            "redriven_deleted": len(self.redriven),
        }


def purge_letters(stores: Iterable[ObjectStore], probe: Probe, *, apply: bool = True) -> LetterResult:
    """Purge the subject from every dead letter, failure record and redriven document (module docstring)."""
    result = LetterResult()
    for store in stores:
        for key in store.list(f"{LAKE.dead_letters}/"):
            result.scanned += 1
            if key.endswith(".json") and _letter_mentions(store.get(key), probe):
                result.dead_letters.append(key)
                if apply:
                    store.delete(key)
        for prefix in (f"{LAKE.failures}/", _LAMBDA_PREFIX):
            for key in store.list(prefix):
                result.scanned += 1
                _failure_record(store, key, probe, result, apply)
        for key in store.list(f"{LAKE.redriven}/"):
            result.scanned += 1
            if probe.found_in(_document_text(store.get(key))):
                result.redriven.append(key)
                if apply:
                    store.delete(key)
    return result


def _letter_mentions(body: bytes, probe: Probe) -> bool:
    try:
        letter = orjson.loads(body)
    except orjson.JSONDecodeError:
        return probe.found_in(body.decode("utf-8", "replace")) is not None
    text = orjson.dumps({**letter, "record": record_text(letter.get("record"))}).decode()
    return probe.found_in(text) is not None


def _document_text(body: bytes) -> str:
    """A redriven document (its original letter's record or failure payload decoded)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
    original = doc.get("original") if isinstance(doc, dict) else None
    if isinstance(original, dict):
        records = _payload_records(original) or ([original["record"]] if "record" in original else [])
        doc = {**doc, "original": {**original, "decoded": [record_text(r) for r in records]}}
    return orjson.dumps(doc, default=str).decode()


def _payload_records(doc: dict[str, Any]) -> list[Any] | None:
    payload = doc.get("payload")
    if isinstance(payload, str):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
    return list(payload.get("Records") or []) if isinstance(payload, dict) else None


def _failure_record(store: ObjectStore, key: str, probe: Probe, result: LetterResult, apply: bool) -> None:
    try:
        doc = orjson.loads(store.get(key))
    except orjson.JSONDecodeError:
        return
    records = _payload_records(doc) if isinstance(doc, dict) else None
    if not records:
        return
    kept = [r for r in records if probe.found_in(record_text(r)) is None]
    if len(kept) == len(records):
        return
    result.failure_records_purged += len(records) - len(kept)
    if not kept:
        result.failure_records_deleted.append(key)
        if apply:
            store.delete(key)
        return
    result.failure_records_rewritten.append(key)
    if apply:
        info_name = "KinesisBatchInfo" if "KinesisBatchInfo" in doc else "DDBStreamBatchInfo"
        info = {**doc.get(info_name, {}), "batchSize": len(kept)}
        rewritten = {**doc, info_name: info, "payload": orjson.dumps({"Records": kept}).decode()}
        store.put(key, orjson.dumps(rewritten, option=orjson.OPT_INDENT_2))
