"""Drift check of the counters: recompute every counter from the tables and compare.

The expected side folds the tables' public states (:func:`consumers.verify.expected_states`)
through the same rules and the same :func:`~consumers.projections.counters.contribution`
the projection uses, so a mismatch means an event was lost, applied twice (the
residual risk of a router re-put, see the README), or applied to the wrong parent.

``MAX`` counters mean "latest seen", which a delete does not lower, so for them the
check is one-sided: the stored value must be at or after the latest live item's.
Histograms compare their positive buckets; latest counters compare the value only
(the version beside it is bookkeeping).

Last, for every loan whose counters agree, the figures computed when read
(:func:`~consumers.projections.counter_items.loan_summary`) must equal the reference
:func:`~schemas.entities.lending.funding_summary` over the loan and its participants:
that checks the read-time arithmetic, not only what it reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Protocol

from consumers.projections.counter_items import loan_summary
from consumers.projections.counter_rules import (
    RULES,
    CounterRule,
    Kind,
    contribution,
    counter_fields,
    parent_key,
    rules_for,
    split_parent_key,
)
from consumers.projections.counters import CounterItem, item_key
from consumers.verify import Expected, Mismatch
from schemas.entities.lending import funding_summary
from schemas.wire.json_values import from_json

__all__ = ["CounterReader", "compare_counters", "compare_loan_summaries", "expected_counters"]

Counters = dict[tuple[str, str], dict[str, Any]]


class CounterReader(Protocol):
    """What the check needs from a counters sink."""

    def get(self, tenant: str, parent_key: str) -> CounterItem | None: ...

    def scan(self, tenant: str | None = None) -> Iterator[CounterItem]: ...


def expected_counters(
    expected: Iterable[Expected], rules: tuple[CounterRule, ...] = RULES, findings: list[Mismatch] | None = None
) -> Counters:
    """``(tenant, parent key) -> {counter: value}`` recomputed from item states.

    A histogram's value is ``{value: count}``; a latest counter's is the value. An item
    whose counted field has the wrong type (the consumer dead-letters its events) is a
    finding in ``findings``, not a crash of the check.
    """
    out: Counters = {}
    for exp in expected:
        for rule in rules_for(exp.entity, rules):
            try:
                found = contribution(rule, exp.state, exp.tenant)
            except (TypeError, ValueError) as exc:
                if findings is not None:
                    findings.append(Mismatch(f"{exp.entity} {exp.key}", f"{rule.field}: {exc} (not countable)"))
                continue
            if found is None:
                continue
            tenant, parent, value = found
            counters = out.setdefault((tenant, parent), {})
            if rule.kind is Kind.MAX:
                counters[rule.counter] = max(counters.get(rule.counter, value), value)
            elif rule.kind is Kind.HISTOGRAM:
                buckets = counters.setdefault(rule.counter, {})
                buckets[Decimal(value)] = buckets.get(Decimal(value), 0) + 1
            elif rule.kind is Kind.LATEST:
                counters[rule.counter] = value
            else:
                counters[rule.counter] = counters.get(rule.counter, 0) + value
    return out


def compare_counters(
    expected: Iterable[Expected], sink: CounterReader, tenants: Iterable[str], rules: tuple[CounterRule, ...] = RULES
) -> list[Mismatch]:
    """Every counter of these tenants that differs from its recomputed value.

    A counter item with nothing behind it must hold zeros (everything it counted was
    deleted); a missing counter item stands for zeros. Loans whose counters agree
    are then checked by :func:`compare_loan_summaries`.
    """
    expected = list(expected)
    mismatches: list[Mismatch] = []
    wanted = expected_counters(expected, rules, mismatches)
    for (tenant, parent), counters in sorted(wanted.items()):
        mismatches += _diff(tenant, parent, counters, sink.get(tenant, parent), rules)
    for tenant in tenants:
        for item in sink.scan(tenant):
            if (item.tenant, item.parent_key) not in wanted:
                mismatches += _diff(item.tenant, item.parent_key, {}, item, rules)
    drifted = {m.key for m in mismatches}
    return mismatches + [m for m in compare_loan_summaries(expected, sink) if m.key not in drifted]


def compare_loan_summaries(expected: Iterable[Expected], sink: CounterReader) -> list[Mismatch]:
    """Every computed field of a loan in the tables that differs from ``funding_summary``."""
    loans: dict[tuple[str, str], Mapping[str, Any]] = {}
    participants: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for exp in expected:
        if exp.entity == "loan":
            loans[(exp.tenant, parent_key("loan", exp.state["loan_id"]))] = exp.state
        elif exp.entity == "loan_participant":
            participants.setdefault((exp.tenant, parent_key("loan", exp.state["loan_id"])), []).append(exp.state)
    mismatches: list[Mismatch] = []
    for (tenant, parent), loan in sorted(loans.items()):
        try:
            want = funding_summary(from_json(loan.get("amount")), participants.get((tenant, parent), []))
        except (TypeError, ValueError, ArithmeticError) as exc:
            mismatches.append(Mismatch(item_key(tenant, parent), f"loan not summable: {exc}"))
            continue
        got = loan_summary(sink.get(tenant, parent))
        mismatches += [
            Mismatch(
                item_key(tenant, parent),
                f"computed {name}: counters give {got[name]}, funding_summary gives {want[name]}",
            )
            for name in want
            if got[name] != want[name]
        ]
    return mismatches


def _diff(
    tenant: str, parent: str, want: Mapping[str, Any], item: CounterItem | None, rules: tuple[CounterRule, ...]
) -> list[Mismatch]:
    key = item_key(tenant, parent)
    held = item.values if item is not None else {}
    out: list[Mismatch] = []
    for name, kind in counter_fields(split_parent_key(parent)[0], rules).items():
        if kind is Kind.MAX:
            latest, stored = want.get(name), held.get(name)
            if latest is not None and (stored is None or stored < latest):
                out.append(Mismatch(key, f"{name}: stored {stored}, but an item has {latest}"))
        elif kind is Kind.HISTOGRAM:
            buckets = item.histogram(name) if item is not None else {}
            if buckets != want.get(name, {}):
                out.append(Mismatch(key, f"{name}: stored {_show(buckets)}, tables give {_show(want.get(name, {}))}"))
        elif kind is Kind.LATEST:
            if held.get(name) != want.get(name):
                out.append(Mismatch(key, f"{name}: stored {held.get(name)}, tables give {want.get(name)}"))
        elif want.get(name, 0) != held.get(name, 0):
            out.append(Mismatch(key, f"{name}: stored {held.get(name, 0)}, tables give {want.get(name, 0)}"))
    return out


def _show(buckets: Mapping[Decimal, int]) -> str:
    return "{" + ", ".join(f"{value}: {count}" for value, count in sorted(buckets.items())) + "}"
