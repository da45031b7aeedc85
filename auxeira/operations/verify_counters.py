"""Drift of the counters: a recount from the scanned items, per parent, and its corrective delta.

The expected counters are folded a page at a time with the check's own recount
(:func:`consumers.verify_counters.expected_counters`, the projection's rules and
contributions), so what is held is one small dict of counters per parent, never the
items. Each counter item of the table (a streaming Scan) is then compared with its
recount by the check's own per-parent rule; a parent with counts but no counter item is
``missing``, a counter item counting what no item gives is ``extra``, any other
difference ``stale``. This is what finds the counters' known residual case: a router
re-put after a crash (same event id, new sequence number, another batch) counted once
more.

The repair is a corrective delta per drifted parent (:class:`CounterFix`): ADD
``expected - stored`` to each count, sum and histogram bucket, raise a max that fell
behind, set a latest value; the watermarks are left alone, so the consumer's exactly-once
bookkeeping is untouched. Its UpdateItem is conditional on every attribute it touches
still holding what was read, so a counter the consumer moved meanwhile is not corrected
on stale figures (verify again).

Not compared here: the loans' computed fields (``compare_loan_summaries`` checks the
read-time arithmetic against ``funding_summary``, which no repair changes).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from decimal import Decimal, localcontext
from typing import Any

from botocore.exceptions import ClientError

from auxeira.operations.verify_report import CounterFix, Drift, ProjectionResult
from auxeira.operations.verify_scan import reservoir
from consumers.projections.counter_items import histogram_attr, item_key, parse_histogram_attr
from consumers.projections.counter_rules import RULES, Kind, counter_fields, split_parent_key
from consumers.projections.counters import DYNAMODB_CONTEXT, CounterItem
from consumers.sinks.counters_dynamo import DynamoCounterSink
from consumers.verify import Expected, Mismatch
from consumers.verify_counters import _diff as diff_parent  # the recount's own per-parent comparison
from consumers.verify_counters import expected_counters

__all__ = ["CounterCheck", "apply_fix", "counter_fix"]

Counters = dict[tuple[str, str], dict[str, Any]]


class CounterCheck:
    """The counters' comparison; feed it pages (:meth:`add_items`), then :meth:`check_entries`."""

    projection = "counters"

    def __init__(self, sink: DynamoCounterSink, *, sampled: bool = False):
        self.sink = sink
        self.result = ProjectionResult(self.projection, sampled=sampled)
        self._wanted: Counters = {}

    def add_items(self, table: str, expected: list[Expected]) -> None:
        """Fold one page of expected states into the recount."""
        self.result.items_checked += len(expected)
        findings: list[Mismatch] = []
        _merge(self._wanted, expected_counters(expected, RULES, findings))
        self.result.findings += [f"{m.key}: {m.reason}" for m in findings]

    def check_entries(self, sample: int | None = None, rng: random.Random | None = None) -> None:
        """Compare every counter item (or ``sample`` of them) with its recount; then, for a
        full check, the recounted parents that have no counter item at all."""
        items: Iterator[CounterItem] = self.sink.scan()
        if sample is not None:
            items = iter(reservoir(items, sample, rng or random.Random()))
        seen: set[tuple[str, str]] = set()
        for item in items:
            seen.add((item.tenant, item.parent_key))
            self._compare(item.tenant, item.parent_key, item)
        if sample is None:
            for tenant, parent in self._wanted.keys() - seen:
                self._compare(tenant, parent, None)

    def recheck(self, drift: Drift) -> bool:
        """Whether the parent of ``drift`` still differs from its recount."""
        assert drift.fix is not None
        tenant, parent = drift.fix.tenant, drift.fix.parent_key
        return bool(
            diff_parent(tenant, parent, self._wanted.get((tenant, parent), {}), self.sink.get(tenant, parent), RULES)
        )

    def _compare(self, tenant: str, parent: str, item: CounterItem | None) -> None:
        self.result.entries_checked += 1
        want = self._wanted.get((tenant, parent), {})
        found = diff_parent(tenant, parent, want, item, RULES)
        if not found:
            return
        kind = "missing" if item is None else ("extra" if not want else "stale")
        fix = counter_fix(tenant, parent, want, item)
        self.result.drifts.append(
            Drift(
                self.projection,
                kind,
                item_key(tenant, parent),
                "; ".join(m.reason for m in found),
                tenant=tenant,
                fix=fix,
            )
        )


def counter_fix(tenant: str, parent: str, want: Mapping[str, Any], item: CounterItem | None) -> CounterFix:
    """The corrective delta that makes ``item`` hold ``want`` (see the module docstring)."""
    held = item.values if item is not None else {}
    adds: dict[str, Any] = {}
    sets: dict[str, Any] = {}
    removes: list[str] = []
    with localcontext(DYNAMODB_CONTEXT):  # 38 digits, as DynamoDB adds them
        for name, kind in counter_fields(split_parent_key(parent)[0], RULES).items():
            if kind is Kind.MAX:
                latest, stored = want.get(name), held.get(name)
                if latest is not None and (stored is None or stored < latest):
                    sets[name] = latest
            elif kind is Kind.LATEST and held.get(name) != want.get(name):
                if want.get(name) is None:
                    removes.append(name)
                else:
                    sets[name] = want[name]
            elif kind is Kind.HISTOGRAM:
                adds.update(_bucket_deltas(name, want.get(name, {}), held))
            elif (delta := want.get(name, 0) - held.get(name, 0)) != 0:
                adds[name] = delta
    touched = [*adds, *sets, *removes]
    return CounterFix(
        tenant, parent, adds, sets, tuple(removes), {a: held.get(a) for a in touched}, item_exists=item is not None
    )


def apply_fix(client: Any, table: str, fix: CounterFix) -> bool:
    """One conditional UpdateItem; False when a touched attribute changed since it was read."""
    names: dict[str, str] = {"#t": "tenant_id", "#p": "parent_key"}
    values: dict[str, Any] = {":t": {"S": fix.tenant}, ":p": {"S": fix.parent_key}}
    sets, adds, removes, conditions = ["#t = if_not_exists(#t, :t)", "#p = if_not_exists(#p, :p)"], [], [], []
    for n, attr in enumerate([*fix.adds, *fix.sets, *fix.removes]):
        names[f"#x{n}"] = attr
        stored = fix.stored.get(attr)
        if stored is None:
            conditions.append(f"attribute_not_exists(#x{n})")
        else:
            values[f":c{n}"] = _value(stored)
            conditions.append(f"#x{n} = :c{n}")
        if attr in fix.adds:
            values[f":x{n}"] = {"N": str(fix.adds[attr])}
            adds.append(f"#x{n} :x{n}")
        elif attr in fix.sets:
            values[f":x{n}"] = _value(fix.sets[attr])
            sets.append(f"#x{n} = :x{n}")
        else:
            removes.append(f"#x{n}")
    expression = "SET " + ", ".join(sets)
    if adds:
        expression += " ADD " + ", ".join(adds)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    if not fix.item_exists:
        conditions.append("attribute_not_exists(PK)")
    try:
        client.update_item(
            TableName=table,
            Key={"PK": {"S": item_key(fix.tenant, fix.parent_key)}},
            UpdateExpression=expression,
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _bucket_deltas(counter: str, want: Mapping[Decimal, int], held: Mapping[str, Any]) -> dict[str, int]:
    """ADDs per histogram bucket attribute, zeros and negative stored counts included."""
    stored: dict[Decimal, tuple[str, int]] = {}
    for attr, count in held.items():
        bucket = parse_histogram_attr(attr)
        if bucket is not None and bucket[0] == counter:
            stored[bucket[1]] = (attr, int(count))
    out: dict[str, int] = {}
    for value in {*want, *stored}:
        attr, have = stored.get(value, (histogram_attr(counter, value), 0))
        if want.get(value, 0) != have:
            out[attr] = want.get(value, 0) - have
    return out


def _merge(into: Counters, page: Counters) -> None:
    """Add one page's recount to the running one, by each counter's kind."""
    with localcontext(DYNAMODB_CONTEXT):
        for parent_id, counters in page.items():
            held = into.setdefault(parent_id, {})
            fields = counter_fields(split_parent_key(parent_id[1])[0], RULES)
            for name, value in counters.items():
                kind = fields.get(name, Kind.SUM)
                if name not in held or kind is Kind.LATEST:
                    held[name] = value
                elif kind is Kind.MAX:
                    held[name] = max(held[name], value)
                elif kind is Kind.HISTOGRAM:
                    for bucket, count in value.items():
                        held[name][bucket] = held[name].get(bucket, 0) + count
                else:
                    held[name] += value


def _value(value: Any) -> dict[str, str]:
    return {"S": value} if isinstance(value, str) else {"N": str(value)}
