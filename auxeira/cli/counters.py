"""``auxeira counters get STARTUP#<id> [--tenant T] [--json]``: read a parent's counters.

With ``--tenant`` it reads one item (a consistent GetItem). Without, it finds the
parent in every tenant through the table's ``ParentKeyIndex`` and shows each match
labelled with its tenant, since ids are only unique within a tenant.

``LOAN#<id>`` also shows the loan's computed fields (funding percentage, average,
largest and smallest contribution, ...), derived from its counters when read.
"""

from __future__ import annotations

from typing import Any, Protocol

import typer
from rich.console import Console
from rich.table import Table

from auxeira.cli.context import context_of
from consumers.projections.counter_items import computed_fields
from consumers.projections.counter_rules import RULES, Kind, counter_fields, split_parent_key
from consumers.projections.counters import CounterItem

__all__ = ["CounterLookup", "app", "lookup", "normalize_parent", "to_json"]

app = typer.Typer(help="Denormalized counters of startups, events, partners, users and loans.", no_args_is_help=True)
_PARENTS = sorted({r.parent for r in RULES})


class CounterLookup(Protocol):
    def get(self, tenant: str, parent_key: str) -> CounterItem | None: ...

    def find(self, parent_key: str) -> list[CounterItem]: ...


def normalize_parent(text: str) -> str:
    """``startup#s1`` -> ``STARTUP#s1``; raises ``typer.BadParameter`` for other parents."""
    try:
        parent, parent_id = split_parent_key(text.strip())
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if parent not in _PARENTS:
        known = ", ".join(f"{p.upper()}#<id>" for p in _PARENTS)
        raise typer.BadParameter(f"no counters for {parent.upper()}; known: {known}")
    return f"{parent.upper()}#{parent_id}"


def lookup(sink: CounterLookup, parent_key: str, tenant: str | None) -> list[CounterItem]:
    """The parent's counter items: one tenant's, or every tenant's."""
    if tenant is not None:
        item = sink.get(tenant, parent_key)
        return [] if item is None else [item]
    return sorted(sink.find(parent_key), key=lambda i: i.tenant)


def to_json(item: CounterItem) -> dict[str, Any]:
    """An item with every counter of its parent (zero / null when never written).

    A histogram shows as ``{"2500.5": count}`` (positive buckets); a parent with
    read-time fields (a loan) gets them under ``"computed"``.
    """
    fields = counter_fields(split_parent_key(item.parent_key)[0])
    counters = {name: _counter(item, name, kind) for name, kind in fields.items()}
    out = {"tenant_id": item.tenant, "parent_key": item.parent_key, "counters": counters}
    computed = computed_fields(item)
    if computed is not None:
        out["computed"] = computed
    out["watermarks"] = {shard: seq.lstrip("0") or "0" for shard, seq in item.watermarks.items()}
    return out


def _counter(item: CounterItem, name: str, kind: Kind) -> Any:
    if kind is Kind.HISTOGRAM:
        return {str(value): count for value, count in item.histogram(name).items()}
    return item.values.get(name, None if kind in (Kind.MAX, Kind.LATEST) else 0)


@app.command()
def get(
    ctx: typer.Context,
    parent: str = typer.Argument(
        ..., help="The parent: STARTUP#<id>, EVENT#<id>, PARTNER#<id>, USER#<id> or LOAN#<id>."
    ),
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant (else every tenant)."),
) -> None:
    """Show the counters of one parent (with --json: one object with --tenant, else an array).

    Exit code 1 when it has none.
    """
    from consumers.sinks.counters_dynamo import DynamoCounterSink

    parent_key = normalize_parent(parent)
    cli = context_of(ctx)
    sink = DynamoCounterSink(cli.clients.client("dynamodb"), cli.settings.counters_table)
    items = lookup(sink, parent_key, tenant)
    rows = [to_json(i) for i in items]
    body = (rows[0] if rows else None) if tenant is not None else rows
    cli.out.emit(body, lambda console: _print(console, parent_key, items))
    raise typer.Exit(0 if items else 1)


def _print(console: Console, parent_key: str, items: list[CounterItem]) -> None:
    if not items:
        console.print(f"no counters for {parent_key}")
        return
    for item in items:
        table = Table("counter", "value", title=f"{item.parent_key} (tenant {item.tenant})")
        shown = to_json(item)
        for name, value in shown["counters"].items():
            table.add_row(name, _text(value))
        for name, value in shown.get("computed", {}).items():
            if name not in shown["counters"]:  # the stored ones are shown above
                table.add_row(f"{name} (computed)", _text(value))
        console.print(table)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} x{v}" for k, v in value.items()) or "-"
    return str(value).lower() if isinstance(value, bool) else str(value)
