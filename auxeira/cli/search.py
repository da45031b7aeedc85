"""``auxeira search "text" --tenant T [--entity startups] [--limit N] [--json]``.

Queries whichever search sink the settings configure: OpenSearch when
``AUXEIRA_OPENSEARCH_URL`` is set, else the embedded index under the lake root.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from auxeira.cli.context import CliContext, context_of
from consumers.sinks.search_base import MAX_LIMIT, Hit, SearchSink
from consumers.sinks.search_base import check_query as bound_query
from schemas.envelope import version_of_order
from schemas.search_fields import SEARCH_ENTITIES, search_entity

__all__ = ["hits_json", "search"]


def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Words to look for (any of them; best matches first).")],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant whose documents to search.")],
    entity: Annotated[
        str | None, typer.Option("--entity", "-e", help=f"One index: {', '.join(s.index for s in SEARCH_ENTITIES)}.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_LIMIT, help="Most hits to show.")] = 10,
) -> None:
    """Search the index of one tenant (exit code 1 when nothing matches)."""
    check_query(text)
    if entity is not None:
        try:
            entity = search_entity(entity).index
        except KeyError as exc:
            raise typer.BadParameter(str(exc.args[0]), param_hint="--entity") from None
    cli = context_of(ctx)
    sink = _sink(cli)
    try:
        hits = sink.search(text, tenant, entity, limit)
    finally:
        sink.close()
    cli.out.emit(orjson.loads(hits_json(text, tenant, hits)), lambda c: _print_table(c, text, tenant, hits))
    raise typer.Exit(0 if hits else 1)


def check_query(text: str) -> None:
    """Refuse a query no person types (it would keep the index busy), naming the bound."""
    try:
        bound_query(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="TEXT") from None


def _sink(cli: CliContext) -> SearchSink:
    """OpenSearch or an explicit index file when configured; else the local stack's index in
    environment ``local``; else the embedded index under the lake root."""
    from consumers.handlers.search import configured_sink
    from consumers.sinks.search_embedded import EmbeddedSearchSink

    settings = cli.settings
    if not settings.opensearch_url and not settings.search_path and cli.is_local:
        from infra.local import LocalStack, LocalStackSettings

        path = LocalStack(LocalStackSettings()).search_path(settings.environment)
        if path.exists():
            return EmbeddedSearchSink(path)
    return configured_sink(settings)


def hits_json(text: str, tenant: str, hits: Sequence[Hit]) -> bytes:
    """The ``--json`` output: the query and every hit with its index, id, score, version, body.

    ``version`` is the writer's version of the indexed state; ``order`` the full envelope
    order (version and stream position) as text, since it is wider than a JSON integer.
    """
    return orjson.dumps(
        {
            "query": text,
            "tenant": tenant,
            "count": len(hits),
            "hits": [
                {
                    "index": h.index,
                    "id": h.doc_id,
                    "score": h.score,
                    "version": version_of_order(h.version),
                    "order": str(h.version),
                    "body": h.body,
                }
                for h in hits
            ],
        }
    )


def _print_table(console: Console, text: str, tenant: str, hits: Sequence[Hit]) -> None:
    if not hits:
        console.print(f"no match for {text!r} in tenant {tenant!r}")
        return
    table = Table("#", "index", "id", "title", "score", "v", title=f"{text!r} in {tenant}")
    for rank, hit in enumerate(hits, 1):
        title = hit.body.get(search_entity(hit.index).title_field, "")
        table.add_row(
            str(rank), hit.index, hit.doc_id, str(title), f"{hit.score:.3g}", str(version_of_order(hit.version))
        )
    console.print(table)
