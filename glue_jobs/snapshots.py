"""Current tables as snapshots switched by a pointer: a reader never sees a half-written table.

This module is the seam where the table format lives. Today a current table is Hive-style
Parquet: each ``current_state`` run writes a whole new snapshot folder, then flips one
small pointer object to it:

    current/{entity}/snapshot=20260301T040000Z-1a2b3c/part-*.parquet
    current/{entity}/_current.json      {"snapshot": "snapshot=...", "rows": 42, ...}

Readers resolve the pointer (the DuckDB views do; on AWS the job also points the Glue
table's location at the snapshot, which is Athena's flip). A put of one object is
atomic on S3 and on local disk (write, then rename), so a reader sees the old snapshot
or the new one, never a mix. The snapshot before the current one is kept, so a query
that resolved the pointer just before a flip can finish; older ones, and any a crashed
run left unpublished, are deleted.

Moving to Iceberg later replaces :func:`publish` and :func:`resolve` with an Iceberg
commit (an ``INSERT OVERWRITE`` of the table, a new snapshot id), and ``expire`` with
``expire_snapshots``; the jobs only call these three.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson

from auxeira.runtime.objects import ObjectStore
from glue_jobs.tables import LakeTable

__all__ = ["POINTER", "expire", "new_snapshot", "publish", "resolve"]

POINTER = "_current.json"


def new_snapshot(table: LakeTable, now: datetime | None = None, salt: str = "") -> str:
    """A new snapshot folder (relative to the lake root); names sort by time."""
    at = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256(f"{table.name}:{at}:{salt}".encode()).hexdigest()[:8]
    return f"{table.location}snapshot={at}-{digest}/"


def publish(objects: ObjectStore, table: LakeTable, folder: str, rows: int) -> None:
    """Flip the table's pointer to ``folder`` (already fully written); the pointer remembers
    the snapshot it replaces, which :func:`expire` keeps for readers mid-query."""
    pointer = {
        "snapshot": folder.removeprefix(table.location).strip("/"),
        "location": folder,
        "previous": resolve(objects, table),
        "rows": rows,
        "published_at": datetime.now(UTC).isoformat(),
    }
    objects.put(f"{table.location}{POINTER}", orjson.dumps(pointer, option=orjson.OPT_INDENT_2))


def resolve(objects: ObjectStore, table: LakeTable) -> str | None:
    """The folder of the table's current snapshot (relative to the lake root), or None."""
    key = f"{table.location}{POINTER}"
    if not objects.exists(key):
        return None
    return str(orjson.loads(objects.get(key))["location"])


def expire(objects: ObjectStore, table: LakeTable) -> int:
    """Delete every snapshot but the current and the previous one (a run that died before
    its flip left an unpublished one: it goes too); returns how many files went."""
    key = f"{table.location}{POINTER}"
    if not objects.exists(key):
        return 0
    pointer = orjson.loads(objects.get(key))
    keep = {str(f).removeprefix(table.location).strip("/") for f in (pointer["location"], pointer.get("previous")) if f}
    folders: dict[str, list[str]] = {}
    for name in objects.list(table.location):
        part = name.removeprefix(table.location).split("/", 1)[0]
        if part.startswith("snapshot="):
            folders.setdefault(part, []).append(name)
    removed = 0
    for name, keys in folders.items():
        if name not in keep:
            for key in keys:
                objects.delete(key)
                removed += 1
    return removed
