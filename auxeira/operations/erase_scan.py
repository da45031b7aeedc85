"""``scan_subject``: look for a subject in every store the pipeline writes, after (or before) an erasure.

What is looked for (:class:`~auxeira.operations.erase_letters.Probe`): the subject's id as
a whole token (``u1`` is not found in ``u10``), its erased item keys, its pii values (when
the run that collected them is the one scanning: they are never stored) and, always,
values whose keyed hash is one of the plan's pii hashes, plus the lake's pii tokens of
those values in the Parquet tables.

Where, every store, read whole (this is the proof, not the fast path):

====================  ==================================================================
source tables         every item of every table (a Scan each)
history               every entry
counters              every counter item (a key names its parent: ``t1#USER#u1``)
cache                 every key of the environment's namespace, and every entry's state
search                every document of every index, tombstones' ids included
lake raw              every archive object, line by line
lake curated/current  every Parquet file (columnar pre-check, then row by row)
dead letters          every letter, failure record and redriven document, decoded
erasures              every plan in progress but the scanning erasure's own
====================  ==================================================================

A finding names the store and the location (a table and key, an object and line, a cache
key), never the value found: the report of an erasure must not repeat what it erased.
"""

from __future__ import annotations

import contextlib
import gzip
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from auxeira.operations.environment import Environment
from auxeira.operations.erase_lake import Needles, _may_hold, lake_files
from auxeira.operations.erase_ledger import IN_PROGRESS
from auxeira.operations.erase_letters import Probe, record_text
from auxeira.operations.erase_stores import history_entries
from auxeira.runtime.objects import ObjectStore
from consumers.sinks.archive_layout import payload_of
from schemas.resources import COUNTERS_TABLE, LAKE
from schemas.search_fields import SEARCH_ENTITIES
from schemas.wire.dynamodb import deserialize_item

__all__ = ["Finding", "ScanResult", "scan_subject"]

_SHOWN_PER_STORE = 200


@dataclass(frozen=True)
class Finding:
    store: str
    location: str
    what: str

    def as_dict(self) -> dict[str, str]:
        return {"store": self.store, "location": self.location, "what": self.what}


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    scanned: Counter[str] = field(default_factory=Counter)

    @property
    def clean(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "scanned": dict(self.scanned),
            "findings": [f.as_dict() for f in self.findings],
        }


def scan_subject(
    env: Environment,
    probe: Probe,
    *,
    tokens: Iterable[str] = (),
    own_plan: str | None = None,
    failures: ObjectStore | None = None,
    progress: Callable[[str], None] | None = None,
    segments: int = 4,
) -> ScanResult:
    """Every store of ``env``, searched for the subject (module docstring).

    Args:
        tokens: the lake's pii tokens of the subject's values (found in Parquet pii columns).
        own_plan: the key of the scanning erasure's plan in progress (not reported).
        failures: the mappings' failure bucket, when it is not the lake.
        segments: the history table's parallel Scan segments.
    """
    result = ScanResult()
    steps: tuple[tuple[str, Callable[[], Iterator[tuple[str, str, str | None]]]], ...] = (
        ("source tables", lambda: _tables(env, probe)),
        ("history", lambda: _history(env, probe, segments)),
        ("counters", lambda: _counters(env, probe)),
        ("cache", lambda: _cache(env, probe)),
        ("search", lambda: _search(env, probe)),
        ("lake raw", lambda: _raw(env.objects, probe)),
        ("lake parquet", lambda: _parquet(env.objects, probe, frozenset(tokens))),
        ("dead letters", lambda: _letters([env.objects, *([failures] if failures else [])], probe)),
        ("erasures", lambda: _plans(env.objects, probe, own_plan)),
    )
    for name, step in steps:
        if progress is not None:
            progress(f"scanning {name}")
        shown = 0
        for store, location, what in step():
            result.scanned[store] += 1
            if what is not None and shown < _SHOWN_PER_STORE:
                result.findings.append(Finding(store, location, what))
                shown += 1
    return result


Hit = tuple[str, str, str | None]


def _text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _scan_table(client: Any, table: str) -> Iterator[dict[str, Any]]:
    args: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**args)
        yield from (deserialize_item(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return
        args = {**args, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def _tables(env: Environment, probe: Probe) -> Iterator[Hit]:
    for spec in env.registry.source_tables:
        name = env.table_name(spec)
        for item in _scan_table(env.dynamodb, name):
            yield name, f"{name} {spec.key_of(item)}", probe.found_in(_text(item))


def _history(env: Environment, probe: Probe, segments: int) -> Iterator[Hit]:
    for entry in history_entries(env, segments):
        yield "history", f"{entry.get('PK')} {entry.get('SK')}", probe.found_in(_text(entry))


def _counters(env: Environment, probe: Probe) -> Iterator[Hit]:
    for item in _scan_table(env.dynamodb, COUNTERS_TABLE.physical_name(env.name)):
        yield "counters", str(item.get("PK")), probe.found_in(_text(item))


def _cache(env: Environment, probe: Probe) -> Iterator[Hit]:
    if not env.redis_url:
        return
    client = env.sink("cache").client
    for raw in client.scan_iter(match=f"aux:{env.name}:*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        data = client.hget(key, "d") if client.type(key) in (b"hash", "hash") else client.get(key)
        text = key + "\n" + (data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or ""))
        yield "cache", key, probe.found_in(text)


def _search(env: Environment, probe: Probe) -> Iterator[Hit]:
    sink = env.sink("search")
    conn = getattr(sink, "conn", None)
    if conn is not None and hasattr(sink, "path"):  # the embedded index: every row, tombstones too
        for index, doc_id, body in conn.execute("SELECT idx, doc_id, body FROM docs"):
            text = doc_id + "\n" + (body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or ""))
            yield "search", f"{index} {doc_id}", probe.found_in(text)
        return
    for spec in SEARCH_ENTITIES:
        for doc_id, _tenant, _order in sink.live_docs(spec.index):
            doc = sink.get(spec.index, doc_id)
            body = doc.body if doc is not None else None
            yield "search", f"{spec.index} {doc_id}", probe.found_in(doc_id + "\n" + _text(body))


def _raw(objects: ObjectStore, probe: Probe) -> Iterator[Hit]:
    for key in objects.list(f"{LAKE.raw}/"):
        if not key.endswith(".jsonl.gz"):
            continue
        body = gzip.decompress(objects.get(key))
        hit = None
        for n, line in enumerate(body.split(b"\n"), 1):
            if line.strip() and (what := probe.found_in(payload_of(line).decode("utf-8", "replace"))):
                hit = (f"{key} line {n}", what)
                break
        yield "lake raw", hit[0] if hit else key, hit[1] if hit else None


def _parquet(objects: ObjectStore, probe: Probe, tokens: frozenset[str]) -> Iterator[Hit]:
    needles = Needles(probe.texts, tokens)
    for layer in ("curated", "current"):
        for _table, key in lake_files(objects, layer):
            data = pq.read_table(io.BytesIO(objects.get(key)))
            what = _parquet_hit(data, probe, tokens) if _may_hold(data, needles) or probe.pii_hashes else None
            yield f"lake {layer}", key, what


def _parquet_hit(data: pa.Table, probe: Probe, tokens: frozenset[str]) -> str | None:
    for row in data.to_pylist():
        if tokens and any(_is_token(v, tokens) for v in row.values()):
            return "a pii token of the subject"
        if what := probe.found_in(_text(row)):
            return what
    return None


def _is_token(value: Any, tokens: frozenset[str]) -> bool:
    if isinstance(value, str):
        return value in tokens
    if isinstance(value, list):
        return any(_is_token(v[1] if isinstance(v, tuple) else v, tokens) for v in value)
    return False


def _letters(stores: list[ObjectStore], probe: Probe) -> Iterator[Hit]:
    for store in stores:
        for prefix in (f"{LAKE.dead_letters}/", f"{LAKE.failures}/", "aws/lambda/", f"{LAKE.redriven}/"):
            for key in store.list(prefix):
                yield prefix.rstrip("/"), key, probe.found_in(_decoded(store.get(key)))


def _decoded(body: bytes) -> str:
    """An object's text with every Kinesis record inside decoded (letters, failure payloads, archives)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
    return _text(_decode_records(doc))


def _decode_records(node: Any) -> Any:
    if isinstance(node, dict):
        if isinstance(node.get("kinesis"), dict):
            return record_text(node)
        out = {k: _decode_records(v) for k, v in node.items()}
        payload = out.get("payload")
        if isinstance(payload, str) and payload.startswith("{"):
            with contextlib.suppress(orjson.JSONDecodeError):
                out["payload"] = _decode_records(orjson.loads(payload))
        return out
    if isinstance(node, list):
        return [_decode_records(v) for v in node]
    return node


def _plans(objects: ObjectStore, probe: Probe, own: str | None) -> Iterator[Hit]:
    for key in objects.list(IN_PROGRESS):
        if key != own:
            yield "erasures", key, probe.found_in(objects.get(key).decode("utf-8", "replace"))
