"""Projection snapshots and wipes: what "identical" and "the store lost its state" mean in a drill.

A :class:`Snapshot` is every entry of the three projection stores as the store holds it:

* **cache**: each Redis hash of the environment's namespace as ``(v, d, t)`` (order, state,
  tombstone flag), keyed without the namespace, so a twin copy under another namespace
  compares equal;
* **search**: each row of the embedded index as ``(version, tenant, body)`` by
  ``(index, doc id)``, tombstones included;
* **counters**: each counter item with its counts, sums, histograms, target and newest
  activity, by its key.

Orders are compared too: a replay of the same stream must restore the very
``(version, sequence)`` the live consumer stored. Left out: the epoch markers (a rebuild
writes a new one by design, :mod:`auxeira.runtime.epochs`) and the counters' per-shard
watermarks ``wm#<shard>``, which hold the last sequence number of the *batch* that last
touched an item, so they move with batch boundaries (a replay reads bigger batches than
live traffic brings) while the counts they guard stay the same.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis

from consumers.verify import scan_items
from schemas.resources import COUNTERS_TABLE

__all__ = ["STORES", "Snapshot", "snapshot", "wipe"]

STORES = ("cache", "search", "counters")


@dataclass(frozen=True)
class Snapshot:
    cache: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    search: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    counters: dict[str, dict[str, Any]] = field(default_factory=dict)

    def store(self, name: str) -> dict[Any, Any]:
        return dict(getattr(self, name))

    def differences(self, other: Snapshot, stores: tuple[str, ...] = STORES, shown: int = 5) -> dict[str, list[str]]:
        """Per store, the first keys whose entries differ (absent on one side, or another value)."""
        out = {}
        for name in stores:
            mine, theirs = self.store(name), other.store(name)
            keys = sorted((k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)), key=str)
            if keys:
                out[name] = [
                    f"{k}: {mine.get(k, '<absent>')!r:.120} != {theirs.get(k, '<absent>')!r:.120}" for k in keys[:shown]
                ]
                out[name] += [f"... {len(keys) - shown} more"] if len(keys) > shown else []
        return out

    def without(
        self, cache: AbstractSet[str] = frozenset(), search: AbstractSet[tuple[str, str]] = frozenset()
    ) -> Snapshot:
        """This snapshot less some entries (the keys a fault kept out)."""
        return Snapshot(
            {k: v for k, v in self.cache.items() if k not in cache},
            {k: v for k, v in self.search.items() if k not in search},
            self.counters,
        )

    @property
    def sizes(self) -> dict[str, int]:
        return {name: len(self.store(name)) for name in STORES}


def snapshot(
    redis: Redis,
    namespace: str,
    search_path: str,
    dynamodb: Any,
    env: str,
    stores: tuple[str, ...] = STORES,
) -> Snapshot:
    """Every entry of the chosen stores of one environment (the others left empty)."""
    return Snapshot(
        _cache(redis, namespace) if "cache" in stores else {},
        _search(search_path) if "search" in stores else {},
        _counters(dynamodb, env) if "counters" in stores else {},
    )


def wipe(redis: Redis, namespace: str, search_path: str, dynamodb: Any, env: str, stores: tuple[str, ...]) -> None:
    """The stores lose everything, their epoch markers included (a Redis restart, a lost
    index file, a dropped table): only the checkpoints remember they were built."""
    if "cache" in stores:
        keys = list(redis.scan_iter(match=f"aux:{namespace}:*", count=1000))
        for start in range(0, len(keys), 500):
            redis.delete(*keys[start : start + 500])
    if "search" in stores:
        for suffix in ("", "-wal", "-shm"):
            Path(search_path + suffix).unlink(missing_ok=True)
    if "counters" in stores:
        table = COUNTERS_TABLE.physical_name(env)
        for item in list(scan_items(dynamodb, table)):
            dynamodb.delete_item(TableName=table, Key={"PK": item["PK"]})


def _cache(redis: Redis, namespace: str) -> dict[str, tuple[Any, ...]]:
    prefix = f"aux:{namespace}:"
    keys = sorted(set(redis.scan_iter(match=f"{prefix}*", count=1000)) - {f"{prefix}__epoch__".encode()})
    out: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        with redis.pipeline(transaction=False) as pipe:
            for key in chunk:
                pipe.hgetall(key)
            for key, fields in zip(chunk, pipe.execute()):
                out[key.decode()[len(prefix) :]] = (fields.get(b"v"), fields.get(b"d"), fields.get(b"t"))
    return out


def _search(path: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    if not Path(path).exists():
        return {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT idx, doc_id, version, tenant, body FROM docs").fetchall()
    return {(idx, doc_id): (version, tenant, body) for idx, doc_id, version, tenant, body in rows}


def _counters(dynamodb: Any, env: str) -> dict[str, dict[str, Any]]:
    items = scan_items(dynamodb, COUNTERS_TABLE.physical_name(env))
    return {
        item["PK"]["S"]: {k: v for k, v in item.items() if not k.startswith("wm#")}
        for item in items
        if "tenant_id" in item
    }
