"""Drift check of the counters: recompute every counter from the tables and compare.

The expected side folds the tables' public states (:func:`consumers.verify.expected_states`)
through the same rules and the same :func:`~consumers.projections.counters.contribution`
the projection uses, so a mismatch means an event was lost, applied twice (the
residual risk of a router re-put, see the README), or applied to the wrong parent.

``MAX`` counters mean "latest seen", which a delete does not lower, so for them the
check is one-sided: the stored value must be at or after the latest live item's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from consumers.projections.counter_rules import (
    RULES,
    CounterRule,
    Kind,
    contribution,
    counter_fields,
    rules_for,
    split_parent_key,
)
from consumers.projections.counters import CounterItem, item_key
from consumers.verify import Expected, Mismatch

__all__ = ["CounterReader", "expected_counters", "compare_counters"]

Counters = dict[tuple[str, str], dict[str, Any]]


class CounterReader(Protocol):
    """What the check needs from a counters sink."""

    def get(self, tenant: str, parent_key: str) -> CounterItem | None: ...

    def scan(self, tenant: str | None = None) -> Iterator[CounterItem]: ...


def expected_counters(expected: Iterable[Expected], rules: tuple[CounterRule, ...] = RULES) -> Counters:
    """``(tenant, parent key) -> {counter: value}`` recomputed from item states."""
    out: Counters = {}
    for exp in expected:
        for rule in rules_for(exp.entity, rules):
            found = contribution(rule, exp.state, exp.tenant)
            if found is None:
                continue
            tenant, parent, value = found
            counters = out.setdefault((tenant, parent), {})
            if rule.kind is Kind.MAX:
                counters[rule.counter] = max(counters.get(rule.counter, value), value)
            else:
                counters[rule.counter] = counters.get(rule.counter, 0) + value
    return out


def compare_counters(expected: Iterable[Expected], sink: CounterReader, tenants: Iterable[str],
                     rules: tuple[CounterRule, ...] = RULES) -> list[Mismatch]:
    """Every counter of these tenants that differs from its recomputed value.

    A counter item with nothing behind it must hold zeros (everything it counted was
    deleted); a missing counter item stands for zeros.
    """
    wanted = expected_counters(expected, rules)
    mismatches: list[Mismatch] = []
    for (tenant, parent), counters in sorted(wanted.items()):
        item = sink.get(tenant, parent)
        mismatches += _diff(tenant, parent, counters, item.values if item else {}, rules)
    for tenant in tenants:
        for item in sink.scan(tenant):
            if (item.tenant, item.parent_key) not in wanted:
                mismatches += _diff(item.tenant, item.parent_key, {}, item.values, rules)
    return mismatches


def _diff(tenant: str, parent: str, want: Mapping[str, Any], held: Mapping[str, Any],
          rules: tuple[CounterRule, ...]) -> list[Mismatch]:
    key = item_key(tenant, parent)
    out: list[Mismatch] = []
    for name, kind in counter_fields(split_parent_key(parent)[0], rules).items():
        if kind is Kind.MAX:
            latest, stored = want.get(name), held.get(name)
            if latest is not None and (stored is None or stored < latest):
                out.append(Mismatch(key, f"{name}: stored {stored}, but an item has {latest}"))
        elif want.get(name, 0) != held.get(name, 0):
            out.append(Mismatch(key, f"{name}: stored {held.get(name, 0)}, tables give {want.get(name, 0)}"))
    return out
