"""``auxeira history ENTITY KEY [--json]``: every version of one item, who changed what, when.

Reads the history table the repository writes with ``history=True``
(:mod:`producers.history`). The DynamoDB endpoint is ``AUXEIRA_DYNAMODB_ENDPOINT``
when set, else the local stack when it is running, else AWS.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import typer
from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table

from auxeira.runtime.settings import PipelineSettings
from producers.history import HistoryEntry, HistoryReader
from schemas.errors import EntityValidationError

__all__ = ["history_command", "show_history"]

_VALUE_WIDTH = 40


def history_command(
    entity: str = typer.Argument(..., help="Entity name, e.g. loan_participant."),
    key: str = typer.Argument(..., help="Stable key, e.g. 'LOAN#l1|PARTICIPANT#p1'."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document instead of a table."),
    env: str | None = typer.Option(None, "--env", help="Environment (default: AUXEIRA_ENV)."),
) -> None:
    """List every version of an item: version, action, time, actor and field changes."""
    settings = PipelineSettings()
    reader = HistoryReader(_dynamodb_client(settings), env=env or settings.env)
    raise typer.Exit(show_history(reader, entity, key, as_json=json_output, console=Console()))


def show_history(reader: HistoryReader, entity: str, key: str, *, as_json: bool, console: Console) -> int:
    """Print the item's history; returns the exit code (0 found, 1 no history, 2 bad input)."""
    try:
        entries = list(reader.entries(entity, key))
    except (KeyError, EntityValidationError) as exc:
        console.print(f"[red]error[/] {exc.args[0] if isinstance(exc, KeyError) else exc}")
        return 2
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        console.print(f"[red]error[/] no history table {reader.table_name!r}: is the repository "
                      "writing with history=True in this environment?")
        return 2
    if as_json:
        document = {"entity": entity, "key": key, "versions": [e.as_json() for e in entries]}
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif entries:
        console.print(_table(entity, key, entries))
    else:
        console.print(f"no history for {entity} {key!r}")
    return 0 if entries else 1


def _table(entity: str, key: str, entries: list[HistoryEntry]) -> Table:
    table = Table("version", "action", "at", "actor", "changes", title=f"{entity} {key}")
    for entry in entries:
        changes = "\n".join(f"{field}: {_short(old)} -> {_short(new)}"
                            for field, (old, new) in entry.diff().items())
        if entry.action == "delete":
            changes = "item removed (its last image is this entry's 'before')"
        table.add_row(str(entry.version), entry.action, entry.at, entry.actor, changes or "-")
    return table


def _short(value: Any) -> str:
    text = "(none)" if value is None else value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."


def _dynamodb_client(settings: PipelineSettings) -> Any:
    import boto3

    if settings.dynamodb_endpoint:
        return boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint)
    from infra.local import LocalStack, LocalStackSettings

    endpoints = LocalStack(LocalStackSettings()).endpoints()
    if endpoints is not None:
        return endpoints.dynamodb_client()
    return boto3.client("dynamodb", region_name=settings.region)
