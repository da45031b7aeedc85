"""``auxeira [--json] history ENTITY KEY``: every version of one item, who changed what, when.

Reads the history table the repository writes with ``history=True``
(:mod:`producers.history`), through the clients of the root options (``--env``,
``--profile``, ``--region``; the local stack in environment ``local``).
"""

from __future__ import annotations

from typing import Any

import orjson
import typer
from botocore.exceptions import ClientError
from rich.table import Table

from auxeira.cli.context import context_of
from auxeira.cli.output import Output
from producers.history import HistoryEntry, HistoryReader
from schemas.errors import EntityValidationError

__all__ = ["history_command", "show_history"]

_VALUE_WIDTH = 40


def history_command(
    ctx: typer.Context,
    entity: str = typer.Argument(..., help="Entity name, e.g. loan_participant."),
    key: str = typer.Argument(..., help="Stable key, e.g. 'LOAN#l1|PARTICIPANT#p1'."),
) -> None:
    """List every version of an item: version, action, time, actor and field changes."""
    cli = context_of(ctx)
    reader = HistoryReader(cli.clients.client("dynamodb"), env=cli.settings.environment)
    raise typer.Exit(show_history(reader, entity, key, out=cli.out))


def show_history(reader: HistoryReader, entity: str, key: str, *, out: Output) -> int:
    """Print the item's history; returns the exit code (0 found, 1 no history, 2 bad input)."""
    console = out.console
    try:
        entries = list(reader.entries(entity, key))
    except (KeyError, EntityValidationError) as exc:
        console.print(f"[red]error[/] {exc.args[0] if isinstance(exc, KeyError) else exc}")
        return 2
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        console.print(
            f"[red]error[/] no history table {reader.table_name!r}: is the repository "
            "writing with history=True in this environment?"
        )
        return 2
    if out.as_json:
        out.json_line({"entity": entity, "key": key, "versions": [e.as_json() for e in entries]})
    elif entries:
        console.print(_table(entity, key, entries))
    else:
        console.print(f"no history for {entity} {key!r}")
    return 0 if entries else 1


def _table(entity: str, key: str, entries: list[HistoryEntry]) -> Table:
    table = Table("version", "action", "at", "actor", "changes", title=f"{entity} {key}")
    for entry in entries:
        changes = "\n".join(f"{field}: {_short(old)} -> {_short(new)}" for field, (old, new) in entry.diff().items())
        if entry.action == "delete":
            changes = "item removed (its last image is this entry's 'before')"
        table.add_row(str(entry.version), entry.action, entry.at, entry.actor, changes or "-")
    return table


def _short(value: Any) -> str:
    text = "(none)" if value is None else value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."
