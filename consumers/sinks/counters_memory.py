"""An in-memory counters sink with the DynamoDB sink's semantics, for tests without AWS.

Per update, atomically, as the DynamoDB sink's conditional UpdateItem (plus its resume
on a failed condition) does:

1. read the item's watermark for the update's shard;
2. keep only the parts above it (:meth:`CounterUpdate.after`); none left -> replayed;
3. ADD the net of those parts, raise max counters, set (or, for None, remove) each
   latest counter whose stored version is older, with its version; store the
   update's watermark.

Histogram buckets are ADDed attributes like any counter, and stay at 0 once emptied,
as DynamoDB keeps them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from consumers.projections.counters import (
    VERSION_PREFIX,
    CounterItem,
    CounterUpdate,
    WriteOutcome,
    WriteStats,
    item_key,
)

__all__ = ["InMemoryCounterSink"]


class InMemoryCounterSink:
    """Counter items in a dict keyed by ``tenant#PARENT#id``."""

    def __init__(self) -> None:
        self._items: dict[str, CounterItem] = {}
        self.stats = WriteStats()

    def write(self, updates: Sequence[CounterUpdate]) -> list[WriteOutcome | BaseException]:
        """Apply each update; one outcome per update, in order (never raises for one item)."""
        outcomes: list[WriteOutcome | BaseException] = []
        for update in updates:
            outcome: WriteOutcome | BaseException
            try:
                outcome = self._write_one(update)
            except Exception as exc:  # noqa: BLE001 - per-item outcome, as the DynamoDB sink
                outcome = exc
            self.stats.count(outcome)
            outcomes.append(outcome)
        return outcomes

    def get(self, tenant: str, parent_key: str) -> CounterItem | None:
        """The counter item of one parent of one tenant, or None."""
        item = self._items.get(item_key(tenant, parent_key))
        return None if item is None else _copy(item)

    def find(self, parent_key: str) -> list[CounterItem]:
        """The counter items of a parent key in every tenant."""
        return [_copy(i) for i in self._items.values() if i.parent_key == parent_key]

    def scan(self, tenant: str | None = None) -> Iterator[CounterItem]:
        """Every counter item (of one tenant)."""
        return iter([_copy(i) for i in self._items.values() if tenant is None or i.tenant == tenant])

    def _write_one(self, update: CounterUpdate) -> WriteOutcome:
        item = self._items.get(update.key) or CounterItem(update.tenant, update.parent_key)
        rest = update.after(item.watermarks.get(update.shard))
        if rest is None:
            return WriteOutcome.REPLAYED
        self.stats.writes += 1
        values = dict(item.values)
        for name, amount in rest.adds().items():
            values[name] = _stored(values.get(name, 0) + amount)
        for name, moment in rest.maxes().items():
            if moment > values.get(name, ""):
                values[name] = moment
        _set_latest(values, item, rest)
        watermarks = {**item.watermarks, update.shard: update.watermark}
        self._items[update.key] = CounterItem(update.tenant, update.parent_key, values, watermarks)
        return WriteOutcome.APPLIED if rest is update else WriteOutcome.RESUMED


def _set_latest(values: dict[str, Any], item: CounterItem, update: CounterUpdate) -> None:
    for name, (version, value) in update.latest().items():
        stored = item.version(name)
        if stored is None or version > stored:
            values[VERSION_PREFIX + name] = version
            if value is None:  # gone at this version: the version stays, so older states stay out
                values.pop(name, None)
            else:
                values[name] = value if isinstance(value, str) else _stored(value)


def _stored(number: int | Decimal) -> int | Decimal:
    """A number as a DynamoDB read returns it: int when integral, else without trailing zeros."""
    if isinstance(number, int) or number == number.to_integral_value():
        return int(number)
    return number.normalize()


def _copy(item: CounterItem) -> CounterItem:
    return CounterItem(item.tenant, item.parent_key, dict(item.values), dict(item.watermarks))
