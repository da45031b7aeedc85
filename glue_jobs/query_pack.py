"""The analysts' query pack: one ``.sql`` file per question in ``glue_jobs/queries/``.

Each file is Athena's dialect (Trino) and runs unchanged in DuckDB over the local lake's
views (``auxeira query --pack NAME``); its first comment lines say what it answers. The
tests parse each with ``sqlglot.parse_one(sql, read="trino")``, run it in DuckDB, and
compare its answer with one computed in Python from the source data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["QUERIES_DIR", "PackQuery", "pack", "pack_query"]

QUERIES_DIR = Path(__file__).parent / "queries"


@dataclass(frozen=True)
class PackQuery:
    name: str
    title: str
    sql: str


@cache
def pack() -> tuple[PackQuery, ...]:
    """Every query of the pack, by name."""
    out = []
    for path in sorted(QUERIES_DIR.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        comments = [line.removeprefix("--").strip() for line in sql.splitlines() if line.startswith("--")]
        out.append(PackQuery(path.stem, " ".join(comments), sql.strip()))
    return tuple(out)


def pack_query(name: str) -> PackQuery:
    for query in pack():
        if query.name == name:
            return query
    raise KeyError(f"no pack query {name!r}; the pack: {', '.join(q.name for q in pack())}")
