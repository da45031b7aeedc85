"""Drift check: does a projection equal the tables' public state?

The expected side is computed from a scan of the tables (the source of truth) with the
same rules the router applies (the item as envelope JSON, secrets removed, key and
tenant from the spec), so a mismatch means the pipeline lost, reordered or corrupted a
change. An item the router would refuse (no tenant, an unknown entity) is a finding
of its own, never a crash of the check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from consumers.projections.cache import cache_key
from consumers.sinks.cache_base import CacheSink
from schemas import catalog
from schemas.envelope import version_of_order
from schemas.errors import PoisonRecordError
from schemas.secrets import public_image
from schemas.tables import TableSpec
from schemas.wire.dynamodb import AttributeValueError
from schemas.wire.json_values import json_image, to_json

__all__ = ["Expected", "Mismatch", "compare_cache", "expected_states", "scan_items"]


@dataclass(frozen=True)
class Expected:
    """What a projection should hold for one item (its state as envelope JSON)."""

    tenant: str
    entity: str
    key: str
    version: int | None
    state: dict[str, Any]

    def cache_key(self, namespace: str = "local") -> str:
        return cache_key(namespace, self.tenant, self.entity, self.key)


@dataclass(frozen=True)
class Mismatch:
    key: str
    reason: str


def scan_items(client: Any, table_name: str) -> Iterator[dict[str, Any]]:
    """Every item of a table as its AttributeValue map (consistent reads)."""
    kwargs: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def expected_states(
    spec: TableSpec,
    items: Iterable[dict[str, Any]],
    tenants: set[str] | None = None,
    findings: list[Mismatch] | None = None,
    *,
    wire: bool = True,
) -> Iterator[Expected]:
    """The public state every item of one table should project to.

    Args:
        items: AttributeValue maps (:func:`scan_items`); with ``wire=False``, plain items.
        findings: where items the router would refuse are reported (else they are skipped).
    """
    for raw in items:
        try:
            item = json_image(raw) if wire else to_json(raw)
            entity = spec.entity_for(item)
            tenant = spec.tenant_of(entity, item)
        except (PoisonRecordError, AttributeValueError) as exc:
            if findings is not None:
                findings.append(Mismatch(f"{spec.name} item", f"not routable: {exc}"))
            continue
        if tenants is not None and tenant not in tenants:
            continue
        version = item.get("version")
        yield Expected(
            tenant=tenant,
            entity=entity.name,
            key=spec.key_of(item),
            version=version if type(version) is int else None,
            state=public_image(item, entity.secret),
        )


def compare_cache(expected: Iterable[Expected], cache: CacheSink, tenants: Iterable[str]) -> list[Mismatch]:
    """Every difference between the expected states and the cache of these tenants.

    A cache key with no item behind it is fine only as a tombstone (a delete), or when it
    holds a published state (a startup's Stripe MRR), which no table holds.
    """
    namespace = cache.namespace
    mismatches: list[Mismatch] = []
    seen: set[str] = set()
    for exp in expected:
        key = exp.cache_key(namespace)
        seen.add(key)
        entry = cache.get(key)
        if entry is None:
            mismatches.append(Mismatch(key, "missing from the cache"))
        elif entry.tombstone:
            mismatches.append(Mismatch(key, f"tombstone v{version_of_order(entry.version)} but the item exists"))
        elif exp.version is not None and version_of_order(entry.version) != exp.version:
            mismatches.append(Mismatch(key, f"cache has v{version_of_order(entry.version)}, table has v{exp.version}"))
        elif entry.state != exp.state:
            mismatches.append(Mismatch(key, "state differs from the table"))
    for tenant in tenants:
        for key in cache.scan_keys(tenant):
            if key in seen or _entity_of(key, namespace, tenant) not in catalog.ENTITIES:
                continue
            entry = cache.get(key)
            if entry is not None and not entry.tombstone:
                mismatches.append(Mismatch(key, "cached but not in any table"))
    return mismatches


def _entity_of(key: str, namespace: str, tenant: str) -> str:
    return key[len(f"aux:{namespace}:{tenant}:") :].partition(":")[0]
