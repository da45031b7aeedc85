"""Drift check: does a projection equal the tables' public state?

The expected side is computed from a scan of the tables (the source of truth) with
the same rules the router applies (secrets removed, key and tenant from the spec),
so a mismatch means the pipeline lost, reordered or corrupted a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from consumers.projections.cache import cache_key
from consumers.sinks.cache_base import CacheSink
from schemas.fields import drop_paths
from schemas.tables import TableSpec
from schemas.wire.dynamodb import deserialize_item

__all__ = ["Expected", "Mismatch", "compare_cache", "expected_states", "scan_items"]


@dataclass(frozen=True)
class Expected:
    """What a projection should hold for one item."""

    tenant: str
    entity: str
    key: str
    version: int | None
    state: dict[str, Any]

    @property
    def cache_key(self) -> str:
        return cache_key(self.tenant, self.entity, self.key)


@dataclass(frozen=True)
class Mismatch:
    key: str
    reason: str


def scan_items(client: Any, table_name: str) -> Iterator[dict[str, Any]]:
    """Every item of a table, as plain JSON values (consistent reads)."""
    kwargs: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for item in page.get("Items", []):
            yield deserialize_item(item)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def expected_states(
    spec: TableSpec, items: Iterable[dict[str, Any]], tenants: set[str] | None = None
) -> Iterator[Expected]:
    """The public state every item of one table should project to."""
    for item in items:
        entity = spec.entity_for(item)
        tenant = spec.tenant_of(entity, item)
        if tenants is not None and tenant not in tenants:
            continue
        version = item.get("version")
        yield Expected(
            tenant=tenant,
            entity=entity.name,
            key=spec.key_of(item),
            version=version if isinstance(version, int) else None,
            state=drop_paths(item, entity.secret) if entity.secret else item,
        )


def compare_cache(expected: Iterable[Expected], cache: CacheSink, tenants: Iterable[str]) -> list[Mismatch]:
    """Every difference between the expected states and the cache of these tenants.

    A cache key with no item behind it is fine only as a tombstone (a delete).
    """
    mismatches: list[Mismatch] = []
    seen: set[str] = set()
    for exp in expected:
        key = exp.cache_key
        seen.add(key)
        entry = cache.get(key)
        if entry is None:
            mismatches.append(Mismatch(key, "missing from the cache"))
        elif entry.tombstone:
            mismatches.append(Mismatch(key, f"tombstone v{entry.version} but the item exists"))
        elif exp.version is not None and entry.version != exp.version:
            mismatches.append(Mismatch(key, f"cache has v{entry.version}, table has v{exp.version}"))
        elif entry.state != exp.state:
            mismatches.append(Mismatch(key, "state differs from the table"))
    for tenant in tenants:
        for key in cache.scan_keys(tenant):
            if key in seen:
                continue
            entry = cache.get(key)
            if entry is not None and not entry.tombstone:
                mismatches.append(Mismatch(key, "cached but not in any table"))
    return mismatches
