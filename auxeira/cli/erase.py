"""``auxeira erase --subject USER#<id>``: a thin shell over :mod:`auxeira.operations.erase`.

``--dry-run`` prints the exact plan (every item to delete or pseudonymize, how it was found,
every lake object, history entry and dead letter that would change) and changes nothing.
``--verify-ledger`` checks the erasure records' hash chain and changes nothing.

Exit codes: 0 erased (or planned, or the chain is intact); 1 the erasure is not finished (the
pipeline has not applied its writes yet, or the final scan still found the subject: rerun
the same command) or the chain is broken; 2 a bad option (a subject that is not
``USER#<id>``, no pii key for a lake on S3); 3 a service did not answer.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any, Self

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from auxeira.cli.context import CliContext, context_of
from auxeira.cli.output import OK, PROBLEM
from auxeira.operations.erase import EraseRequest, EraseResult, erase
from auxeira.operations.erase_ledger import read_records, verify_chain
from auxeira.runtime.objects import object_store
from glue_jobs.pii import resolve_key

__all__ = ["erase_command"]

_SHOWN = 200


def erase_command(
    ctx: typer.Context,
    subject: Annotated[str | None, typer.Option("--subject", help="The user to erase: USER#<id>.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact plan and change nothing.")] = False,
    requested_by: Annotated[
        str | None, typer.Option("--requested-by", help="Who asked (kept in the record; default: you).")
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (kept in the record: a ticket, never personal data).")
    ] = "",
    wait: Annotated[
        float, typer.Option("--wait", min=0.0, help="Seconds to wait for the pipeline to apply the erasure's writes.")
    ] = 600.0,
    segments: Annotated[int, typer.Option("--segments", min=1, max=64, help="Parallel scan segments per table.")] = 4,
    pii_key_secret: Annotated[
        str | None, typer.Option("--pii-key-secret", help="Secrets Manager id of the lake's pii key (an s3:// lake).")
    ] = None,
    verify_ledger: Annotated[
        bool, typer.Option("--verify-ledger", help="Check the erasure records' hash chain; change nothing.")
    ] = False,
) -> None:
    """Erase one user from every store (the right to be forgotten), and record it.

    Deletes what is theirs, pseudonymizes what they share with others, waits for the
    pipeline to carry that to the cache, search and counters, rewrites the lake and the
    dead letters without them, scans every store, and writes a hash-chained erasure
    record. Safe to kill and rerun: it resumes.
    """
    cli = context_of(ctx)
    env = cli.environment
    if verify_ledger:
        _verify(cli)
    if subject is None:
        raise typer.BadParameter("give --subject USER#<id> (or --verify-ledger)", param_hint="--subject")
    key = _key(cli, pii_key_secret)
    request = EraseRequest(
        subject=subject,
        requested_by=requested_by or getpass.getuser(),
        reason=reason,
        dry_run=dry_run,
        wait_seconds=wait,
        segments=segments,
        pii_key=key,
    )
    failures_root = cli.settings.failures_root
    failures = (
        object_store(failures_root, env.s3 if failures_root.startswith("s3://") else None) if failures_root else None
    )
    with _Bars(cli.out.console) as bars:
        result = erase(env, request, on_progress=bars.update, failures=failures)
    cli.out.emit(result.as_dict(), lambda console: _print(console, result))
    raise typer.Exit(PROBLEM if result.problem else OK)


def _key(cli: CliContext, secret_id: str | None) -> bytes | None:
    """The lake's pii key: from Secrets Manager when named, else the local lake's development key."""
    if secret_id is None:
        return None
    client = cli.clients.client("secretsmanager")
    return resolve_key(
        cli.settings.lake, None, secret_id, lambda sid: client.get_secret_value(SecretId=sid)["SecretString"]
    )


def _verify(cli: CliContext) -> None:
    records = read_records(cli.environment.objects)
    problems = verify_chain(records)
    body = {
        "ledger": "broken" if problems else "ok",
        "records": len(records),
        "last": records[-1][1].get("hash") if records else None,
        "problems": [{"key": p.key, "reason": p.reason} for p in problems],
    }

    def human(console: Console) -> None:
        if problems:
            for p in problems:
                console.print(f"[red]broken[/] {p.key}: {p.reason}")
        else:
            console.print(f"erasure records: {len(records)}, hash chain intact")

    cli.out.emit(body, human)
    raise typer.Exit(PROBLEM if problems else OK)


class _Bars:
    """One progress line per step on stderr (a bar where the step knows its total)."""

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def update(self, step: str, done: int, total: int | None) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(step, total=total)
        self.progress.update(self.tasks[step], completed=done, total=total)


def _print(console: Console, result: EraseResult) -> None:
    body = result.as_dict()
    verb = "plan (dry run, nothing changed)" if result.dry_run else "erasure"
    console.print(f"[bold]{verb}[/] request {body['request_id']}" + (" (resumed)" if result.resumed else ""))
    lookups = Table("table", "read", "items", title="how the subject's items were found")
    for lookup in body["lookups"]:
        lookups.add_row(lookup["table"], lookup["how"], str(lookup["items"]))
    console.print(lookups)
    items = Table("table", "entity", "key", "action", "found by", "outcome", title="items")
    for item in body["items"][:_SHOWN]:
        items.add_row(
            item["table"], item["entity"], item["key"], item["action"], item["found_by"], item.get("outcome", "")
        )
    console.print(items)
    if result.dry_run:
        _print_preview(console, result.preview)
        return
    steps = Table("step", "what it did", title="steps")
    for step, counts in body["steps"].items():
        steps.add_row(step, ", ".join(f"{k} {v}" for k, v in counts.items() if k != "done"))
    console.print(steps)
    for store, waiting in (result.pending.stores if result.pending else {}).items():
        for item in waiting[:20]:
            console.print(f"[yellow]not applied yet[/] {store}: {item}")
    if result.scan is not None:
        for f in result.scan.findings[:_SHOWN]:
            console.print(f"[red]still holds the subject[/] {f.store}: {f.location} ({f.what})", soft_wrap=True)
    if result.record is not None:
        console.print(f"record {result.record_key}: hash {result.record['hash']}")
        for held in result.record["may_still_hold"]:
            console.print(f"  may still hold it: {held['store']} until {held['until'] or 'removed by hand'}")
    console.print(("[red]" if result.problem else "[green]") + result.message + "[/]")


def _print_preview(console: Console, preview: dict[str, Any]) -> None:
    for name in ("raw", "curated", "current"):
        found = preview[name]
        table = Table(
            "object", "rows", "dropped", "scrubbed", title=f"lake {name}: {found['objects_rewritten']} objects"
        )
        for change in found["objects"][:_SHOWN]:
            action = " (deleted)" if change["deleted"] else ""
            table.add_row(change["key"] + action, str(change["rows"]), str(change["dropped"]), str(change["scrubbed"]))
        console.print(table)
    letters = preview["dead_letters"]
    for kind in ("dead_letters", "failure_records_rewritten", "failure_records_deleted", "redriven"):
        for key in letters[kind][:_SHOWN]:
            console.print(f"  {kind.replace('_', ' ')}: {key}")
    for store in ("history", "cache", "search", "counters"):
        console.print(f"{store}: " + ", ".join(f"{k} {v}" for k, v in preview[store].items()))
    console.print(f"[dim]note:[/] {preview['note']}")
