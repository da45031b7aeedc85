"""The lake's part of an erasure: raw archive objects and Parquet files rewritten without the subject.

**Raw archive** (:mod:`consumers.sinks.archive_layout`): every object holding a line of the
subject is rewritten under its **own name**, gzip JSON Lines as before: lines of erased
owned items and the subject's published occurrences are dropped, lines of shared items
keep their place with the envelope scrubbed (:func:`schemas.erasure.scrub_envelope`).
Keeping the name is what keeps the archiver exactly-once (:mod:`consumers.sinks.archive`):
an object's name declares the shard and sequence range it covers, and a record some name
covers is never archived again. So a redelivery of a dropped record (within the stream's
retention) is reported stale instead of being archived anew, and an object whose every
line goes stays, empty, to keep claiming its range. The jobs' state
(``_state/raw_to_curated/processed``) lists objects by name, so a rewritten object is not
read again into curated rows either.

**Curated and current Parquet** (:mod:`glue_jobs.tables`): every file holding a row of the
subject is rewritten in place: rows of erased owned items (and occurrences) are dropped;
rows of shared items stay with the subject's ids and audit columns as its pseudonym, its
pii columns (already keyed tokens in the lake) null where the row is about the subject,
and JSON columns (``_extra``) scrubbed. A curated file left with no row is deleted (its
rows are identified by ``event_id``, nothing depends on its name); a current snapshot's
file is written empty, so its snapshot stays whole.

Every rewrite is one put of the whole object (write new, then replace: atomic on S3 and
on local disk), so a kill -9 leaves each object old or new, and a rerun finds the new ones
clean. With ``apply=False`` nothing is written: the result is the dry run's list.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from auxeira.runtime.objects import ObjectStore
from consumers.sinks.archive_layout import line, payload_of
from glue_jobs.parquet_io import parquet_bytes
from glue_jobs.tables import EXTRA, LakeTable, curated_tables, current_tables
from schemas import catalog
from schemas.erasure import AUDIT_ACTORS, Matcher, scrub_envelope
from schemas.events import REGISTRY
from schemas.resources import LAKE

__all__ = ["LakeChange", "Needles", "rewrite_parquet", "rewrite_raw", "scrub_rows"]

_PARQUET = "application/vnd.apache.parquet"


@dataclass(frozen=True)
class Needles:
    """What makes an object worth reading: byte strings one of its lines or values must contain."""

    texts: tuple[str, ...]
    tokens: frozenset[str] = frozenset()

    def in_bytes(self, body: bytes) -> bool:
        return any(t.encode() in body for t in self.texts)


@dataclass
class LakeChange:
    """One object rewritten (or to be): what it loses and what it keeps changed."""

    key: str
    rows: int
    dropped: int = 0
    scrubbed: int = 0
    deleted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LakeResult:
    changes: list[LakeChange] = field(default_factory=list)
    scanned: int = 0

    def totals(self) -> dict[str, int]:
        return {
            "objects_scanned": self.scanned,
            "objects_rewritten": len(self.changes),
            "rows_dropped": sum(c.dropped for c in self.changes),
            "rows_scrubbed": sum(c.scrubbed for c in self.changes),
        }


# -- raw --------------------------------------------------------------------------------------


def rewrite_raw(
    objects: ObjectStore,
    matcher: Matcher,
    erased_item: Callable[[str, str], bool],
    needles: Needles,
    *,
    apply: bool = True,
    progress: Callable[[int], None] | None = None,
) -> LakeResult:
    """Rewrite every raw object holding a line of the subject (module docstring)."""
    result = LakeResult()
    for key in objects.list(f"{LAKE.raw}/"):
        if not key.endswith(".jsonl.gz"):
            continue
        result.scanned += 1
        if progress is not None:
            progress(1)
        body = gzip.decompress(objects.get(key))
        if not needles.in_bytes(body):
            continue
        lines = [raw for raw in body.split(b"\n") if raw.strip()]
        kept, change = _raw_lines(lines, matcher, erased_item, key)
        if change.dropped or change.scrubbed:
            result.changes.append(change)
            if apply:
                data = b"".join(raw + b"\n" for raw in kept)
                objects.put(key, gzip.compress(data, compresslevel=6, mtime=0), content_type="application/gzip")
    return result


def _raw_lines(
    lines: list[bytes], matcher: Matcher, erased_item: Callable[[str, str], bool], key: str
) -> tuple[list[bytes], LakeChange]:
    change = LakeChange(key, len(lines))
    kept: list[bytes] = []
    for raw in lines:
        payload = payload_of(raw)
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            kept.append(raw)
            continue
        clean = scrub_envelope(doc, matcher, erased_item) if isinstance(doc, dict) else doc
        if clean is None:
            change.dropped += 1
        elif clean == doc:
            kept.append(raw)
        else:
            head = orjson.loads(raw)
            kept.append(line(float(head["arrival"]), str(head["seq"]), int(head.get("sub", 0)), orjson.dumps(clean)))
            change.scrubbed += 1
    return kept, change


# -- parquet ----------------------------------------------------------------------------------


def lake_files(objects: ObjectStore, layer: str) -> Iterator[tuple[LakeTable, str]]:
    """``(table, file key)`` of every Parquet file of the curated (or current) tables."""
    tables = curated_tables() if layer == "curated" else current_tables()
    for table in tables:
        for key in objects.list(table.location):
            name = key.rsplit("/", 1)[-1]
            if name.endswith(".parquet") and not name.startswith(("_", ".")):
                yield table, key


def rewrite_parquet(
    objects: ObjectStore,
    layer: str,
    matcher: Matcher,
    erased_item: Callable[[str, str], bool],
    needles: Needles,
    *,
    apply: bool = True,
    progress: Callable[[int], None] | None = None,
) -> LakeResult:
    """Rewrite every curated (or current) file holding a row of the subject (module docstring)."""
    result = LakeResult()
    for table, key in lake_files(objects, layer):
        result.scanned += 1
        if progress is not None:
            progress(1)
        data = pq.read_table(io.BytesIO(objects.get(key)))
        if not _may_hold(data, needles):
            continue
        rows, change = scrub_rows(table, data.to_pylist(), matcher, erased_item, needles.tokens, key)
        if not (change.dropped or change.scrubbed):
            continue
        change.deleted = not rows and layer == "curated"
        result.changes.append(change)
        if not apply:
            continue
        if change.deleted:
            objects.delete(key)
        else:
            objects.put(key, parquet_bytes(pa.Table.from_pylist(rows, schema=data.schema)), content_type=_PARQUET)
    return result


def _may_hold(data: pa.Table, needles: Needles) -> bool:
    """Whether any string value holds a needle, or any value is one of the tokens (cheap, columnar)."""
    tokens = pa.array(sorted(needles.tokens), pa.string()) if needles.tokens else None
    for column in data.columns:
        values = column
        if pa.types.is_list(column.type) and pa.types.is_string(column.type.value_type):
            values = pc.list_flatten(column)
        elif pa.types.is_map(column.type):
            values = column.combine_chunks().items
        if not pa.types.is_string(values.type):
            continue
        if tokens is not None and pc.any(pc.is_in(values, value_set=tokens)).as_py():
            return True
        if any(pc.any(pc.match_substring(values, t)).as_py() for t in needles.texts):
            return True
    return False


def scrub_rows(
    table: LakeTable,
    rows: Iterable[dict[str, Any]],
    matcher: Matcher,
    erased_item: Callable[[str, str], bool],
    tokens: frozenset[str],
    key: str = "",
) -> tuple[list[dict[str, Any]], LakeChange]:
    """The rows that stay, scrubbed; and what changed (rows of one lake table)."""
    kept: list[dict[str, Any]] = []
    rows = list(rows)
    change = LakeChange(key, len(rows))
    for row in rows:
        clean = _row(table, row, matcher, erased_item, tokens)
        if clean is None:
            change.dropped += 1
            continue
        if clean != row:
            change.scrubbed += 1
        kept.append(clean)
    return kept, change


def _row(
    table: LakeTable,
    row: dict[str, Any],
    matcher: Matcher,
    erased_item: Callable[[str, str], bool],
    tokens: frozenset[str],
) -> dict[str, Any] | None:
    names = table.envelope
    spec = catalog.ENTITIES.get(table.entity)
    if spec is None:
        model = REGISTRY.model(table.entity)
        field_name = getattr(model, "actor_field", None) if model is not None else None
        if matcher.names_subject(row.get(names["actor"])) or (
            field_name and matcher.names_subject(row.get(field_name))
        ):
            return None
        return _json_columns(row, matcher)
    if erased_item(table.entity, str(row.get(names["key"]))):
        return None
    ids = {a: row.get(a) for a in spec.subject_attrs if "[]." not in a}
    hits = {a for a, v in ids.items() if _names(v, matcher)}
    if spec.erasure == "owned" and hits:
        return None
    out = dict(row)
    for attr in hits:
        value = out[attr]
        out[attr] = [matcher.pseudonym_for(v) or v for v in value] if isinstance(value, list) else _swap(value, matcher)
    for attr in (*AUDIT_ACTORS, names["actor"]):
        if matcher.names_subject(out.get(attr)):
            out[attr] = _swap(out[attr], matcher)
    principal = spec.pii_subject in hits
    for column in table.fields:
        if column.pii and out.get(column.name) is not None and (principal or _token_of(out[column.name], tokens)):
            out[column.name] = None
    return _json_columns(out, matcher)


def _names(value: Any, matcher: Matcher) -> bool:
    if isinstance(value, list):
        return any(matcher.names_subject(v) for v in value)
    return matcher.names_subject(value)


def _swap(value: str, matcher: Matcher) -> str:
    return matcher.pseudonym_for(value) or value


def _token_of(value: Any, tokens: frozenset[str]) -> bool:
    if isinstance(value, str):
        return value in tokens
    if isinstance(value, list):  # a map column reads as (key, value) pairs
        return any(isinstance(v, tuple) and v[1] in tokens for v in value)
    return False


def _json_columns(row: dict[str, Any], matcher: Matcher) -> dict[str, Any]:
    """JSON text columns (``_extra``, nested JSON fields) with every value naming the subject swapped."""
    out = row
    for name, value in row.items():
        if not isinstance(value, str) or value[:1] not in ("{", "[") or (name != EXTRA and len(value) < 2):
            continue
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        swapped = _swap_json(parsed, matcher)
        if swapped != parsed:
            out = {**out, name: orjson.dumps(swapped).decode()}
    return out


def _swap_json(value: Any, matcher: Matcher) -> Any:
    if isinstance(value, str):
        return _swap(value, matcher)
    if isinstance(value, dict):
        return {k: _swap_json(v, matcher) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap_json(v, matcher) for v in value]
    return value
