"""``auxeira query "SQL" [--engine duckdb|athena] [--format table|csv|json]``: SQL over the lake.

One SQL text for both engines: DuckDB (the default here) reads the local lake through one
view per catalog table, named as in Glue; Athena runs it in the environment's workgroup
(``auxeira-{env}``) against its Glue database (``auxeira_lake_{env}``). ``--pack NAME``
runs a query of the analysts' pack (``--list`` shows them).

Output: ``--format table`` (the default) is for people, on stderr; ``json`` (or the root
``--json``) and ``csv`` are the machine formats, on stdout. A query the engine refuses is
the user's mistake (exit 2, the engine's message).
"""

from __future__ import annotations

import csv
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from auxeira.cli.context import CliContext, CliProblem, context_of
from auxeira.operations.lake_query import QueryEngine, QueryError, QueryResult

__all__ = ["query", "render"]

ENGINES = ("duckdb", "athena")
FORMATS = ("table", "csv", "json")


def query(
    ctx: typer.Context,
    sql: Annotated[str | None, typer.Argument(help="The SQL (Athena's dialect); omit with --pack or --list.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="duckdb (the local lake) or athena.")] = "duckdb",
    output: Annotated[str, typer.Option("--format", help="table (stderr), csv or json (stdout).")] = "table",
    pack: Annotated[str | None, typer.Option("--pack", help="Run this query of the analysts' pack.")] = None,
    list_pack: Annotated[bool, typer.Option("--list", help="List the pack's queries.")] = False,
    workgroup: Annotated[str | None, typer.Option("--workgroup", help="Athena workgroup (auxeira-{env}).")] = None,
) -> None:
    """Run SQL over the lake's tables (exit code 1 when it returns no row)."""
    from glue_jobs.query_pack import pack as queries
    from glue_jobs.query_pack import pack_query

    cli = context_of(ctx)
    if engine not in ENGINES:
        raise typer.BadParameter(f"choose one of {', '.join(ENGINES)}", param_hint="--engine")
    if output not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if list_pack:
        listing = [{"name": q.name, "question": q.title} for q in queries()]

        def human(console: Console) -> None:
            for q in listing:
                console.print(f"[bold]{q['name']}[/]  {q['question']}")

        cli.out.emit(listing, human)
        return
    if pack is not None:
        sql = pack_query(pack).sql
    if not sql:
        raise typer.BadParameter("give the SQL, --pack NAME or --list", param_hint="SQL")
    try:
        result = _engine(cli, engine, workgroup).run(sql)
    except QueryError as exc:
        raise CliProblem(f"{engine} refused the query: {exc}") from None
    render(cli, result, "json" if cli.as_json else output)
    raise typer.Exit(0 if result.rows else 1)


def _engine(cli: CliContext, engine: str, workgroup: str | None) -> QueryEngine:
    if engine == "duckdb":
        from auxeira.operations.lake_query import DuckDbEngine

        return DuckDbEngine(cli.settings.lake)
    from auxeira.operations.lake_query import AthenaEngine
    from auxeira.runtime.clients import ClientFactory
    from glue_jobs.catalog import glue_database_name

    env = cli.settings.environment
    client = ClientFactory.from_settings(cli.settings).client("athena")
    return AthenaEngine(client, glue_database_name(env), workgroup or f"auxeira-{env}")


def render(cli: CliContext, result: QueryResult, output: str) -> None:
    """Print a result in one of :data:`FORMATS`."""
    if output == "json":
        cli.out.json_line(result.records())
    elif output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_cell(v) for v in row] for row in result.rows)
        sys.stdout.flush()
    else:
        _table(cli.out.console, result)


def _table(console: Console, result: QueryResult) -> None:
    table = Table(*result.columns, title=f"{len(result.rows)} rows")
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
