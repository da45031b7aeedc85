"""``auxeira search "text" --tenant T [--entity startups] [--limit N] [--json]``.

Queries whichever search sink the settings configure: OpenSearch when
``AUXEIRA_OPENSEARCH_URL`` is set, else the embedded index under the lake root.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from auxeira.runtime.settings import PipelineSettings
from consumers.sinks.search_base import MAX_LIMIT, Hit, SearchSink
from schemas.search_fields import SEARCH_ENTITIES, search_entity

__all__ = ["search", "hits_json"]


def search(
    text: Annotated[str, typer.Argument(help="Words to look for (any of them; best matches first).")],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant whose documents to search.")],
    entity: Annotated[str | None, typer.Option(
        "--entity", "-e", help=f"One index: {', '.join(s.index for s in SEARCH_ENTITIES)}.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_LIMIT, help="Most hits to show.")] = 10,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Search the index of one tenant."""
    if entity is not None:
        try:
            entity = search_entity(entity).index
        except KeyError as exc:
            raise typer.BadParameter(str(exc.args[0]), param_hint="--entity") from None
    from consumers.handlers.search import configured_sink

    sink: SearchSink = configured_sink(PipelineSettings())
    try:
        hits = sink.search(text, tenant, entity, limit)
    finally:
        sink.close()
    if json:
        sys.stdout.write(hits_json(text, tenant, hits).decode() + "\n")
    else:
        _print_table(Console(), text, tenant, hits)


def hits_json(text: str, tenant: str, hits: Sequence[Hit]) -> bytes:
    """The ``--json`` output: the query and every hit with its index, id, score, version, body."""
    return orjson.dumps({
        "query": text, "tenant": tenant, "count": len(hits),
        "hits": [{"index": h.index, "id": h.doc_id, "score": h.score, "version": h.version,
                  "body": h.body} for h in hits],
    })


def _print_table(console: Console, text: str, tenant: str, hits: Sequence[Hit]) -> None:
    if not hits:
        console.print(f"no match for {text!r} in tenant {tenant!r}")
        return
    table = Table("#", "index", "id", "title", "score", "v", title=f"{text!r} in {tenant}")
    for rank, hit in enumerate(hits, 1):
        title = hit.body.get(search_entity(hit.index).title_field, "")
        table.add_row(str(rank), hit.index, hit.doc_id, str(title), f"{hit.score:.3g}", str(hit.version))
    console.print(table)
