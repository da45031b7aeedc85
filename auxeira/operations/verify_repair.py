"""The repair of drifted keys: re-emitted snapshots for cache and search, corrective deltas for counters.

Cache and search are repaired through the normal path: one envelope per drifted item on
the events stream (:func:`auxeira.operations.emit.emit`), applied by the consumers as any
change, so every consumer sees the same truth and a repair that races live traffic loses
to anything newer. Per drifted item, read again (consistently) when the plan is made:

* the item exists: its snapshot (:func:`producers.stream_router.snapshot_envelope`, the
  router's own rules). Its order is ``(version, 0)``, which outranks an entry of an
  older version; an entry at the *same* version (a corrupted state) needs a sequence
  just above the one it is stored at, so the snapshot carries that. The counters never
  count a snapshot. An entry at a *newer* version than the item cannot be outranked by
  the item's state: it is reported, not repaired;
* no item (an ``extra``): a ``deleted`` envelope at the entry's version and a sequence
  just above it, with no ``before`` image, so cache and search drop the entry and the
  counters take nothing back (they never counted it, or took it back already).

Counters are repaired in place (:func:`auxeira.operations.verify_counters.apply_fix`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from auxeira.operations.verify_lookup import ItemLookup
from auxeira.operations.verify_report import Drift
from consumers.verify import Expected, expected_states
from producers.stream_router import snapshot_envelope
from schemas.envelope import SEQUENCE_DIGITS, Envelope, Source, event_id_for, version_of_order

__all__ = ["describe", "plan_envelopes"]

_SEQUENCE_SPAN = 10**SEQUENCE_DIGITS


def plan_envelopes(lookup: ItemLookup, drifts: Iterable[Drift]) -> tuple[list[Envelope], list[str]]:
    """(envelopes that repair the drifted cache and search keys, drifts that cannot be repaired so)."""
    groups: dict[str, dict[str, list[Drift]]] = {}
    for drift in drifts:
        if drift.fix is None and drift.entity is not None and drift.item_key is not None:
            groups.setdefault(drift.entity, {}).setdefault(drift.item_key, []).append(drift)
    envelopes: list[Envelope] = []
    refused: list[str] = []
    for entity, by_key in groups.items():
        spec, table = lookup.table_of(entity)
        for start in range(0, len(by_key), 100):
            keys = list(by_key)[start : start + 100]
            items = lookup.items(entity, keys)
            states = {e.key: e for e in expected_states(spec, items.values(), findings=[]) if e.entity == entity}
            for key in keys:
                found, denied = _repair(table, entity, key, items.get(key), states.get(key), by_key[key])
                envelopes += found
                refused += denied
    return envelopes, refused


def _repair(
    table: str, entity: str, key: str, item: dict[str, Any] | None, current: Expected | None, group: list[Drift]
) -> tuple[list[Envelope], list[str]]:
    """The envelopes of one drifted item (see the module docstring)."""
    if item is None or current is None:
        return _removals(table, entity, key, group), []
    moved = [d for d in group if d.kind == "extra" and d.tenant is not None and d.tenant != current.tenant]
    rest = [d for d in group if d not in moved]
    sequence, behind = _sequence_above(current.version or 0, rest)
    envelopes = _removals(table, entity, key, moved)
    if len(behind) < len(rest):
        envelopes.append(snapshot_envelope(table, item, sequence=sequence))
    return envelopes, [f"{d.key}: {why}" for d, why in behind]


def describe(envelope: Envelope) -> dict[str, Any]:
    """An envelope as the plan shows it (no state: the plan names keys and orders)."""
    return {
        "event_type": envelope.event_type,
        "tenant": envelope.tenant_id,
        "entity": envelope.entity,
        "key": envelope.key,
        "version": envelope.version,
        "sequence": envelope.source.sequence_number,
        "table": envelope.source.table,
    }


def _sequence_above(version: int, drifts: list[Drift]) -> tuple[str | None, list[tuple[Drift, str]]]:
    """The sequence a snapshot at ``version`` needs to outrank every stored entry (None: none),
    and the entries it cannot outrank (stored at a newer version than the item's)."""
    needed, behind = 0, []
    for drift in drifts:
        if drift.stored_order is None:
            continue
        stored_version = version_of_order(drift.stored_order)
        if stored_version > version:
            behind.append((drift, f"stored at v{stored_version}, newer than the table's v{version}: not repaired"))
        elif stored_version == version:
            needed = max(needed, drift.stored_order % _SEQUENCE_SPAN + 1)
    return (str(needed) if needed else None), behind


def _removals(table: str, entity: str, key: str, drifts: list[Drift]) -> list[Envelope]:
    """One ``deleted`` envelope per tenant holding an entry whose item is gone (see the module docstring)."""
    highest: dict[str, int] = {}
    for drift in drifts:
        if drift.tenant is not None:
            highest[drift.tenant] = max(highest.get(drift.tenant, 0), drift.stored_order or 0)
    return [_removal(table, entity, tenant, key, order) for tenant, order in highest.items()]


def _removal(table: str, entity: str, tenant: str, key: str, order: int) -> Envelope:
    version, sequence = version_of_order(order), str(order % _SEQUENCE_SPAN + 1)
    return Envelope(
        event_id=event_id_for(f"repair:{table}", f"{tenant}\x1f{key}\x1f{version}\x1f{sequence}\x1fdeleted"),
        event_type=f"{entity}.deleted",
        tenant_id=tenant,
        entity=entity,
        key=key,
        version=version,
        source=Source(table=table, sequence_number=sequence),
        occurred_at=datetime.now(UTC),
        actor="auxeira verify --repair",
        before=None,
        after=None,
    )
