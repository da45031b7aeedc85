"""The demo's lake step: the run's raw archive through the lake jobs, checked against the tables.

Steps, in order (the archiver already archived the run, as one of the pipeline's consumers):

1. ``raw_to_curated`` then ``current_state`` on the run's lake, with the jobs' pyarrow
   engine: the same steps as the Glue scripts' Spark path, in this process and in well
   under a second (local Spark would add a JVM and about a minute for the demo's 20-odd
   entity tables; the tests check that both engines give the same rows);
2. compare every current table with a scan of the tables (:func:`auxeira.operations.lake.current_drift`);
3. run one query of the analysts' pack through DuckDB and show its answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from auxeira.operations.lake import current_drift, run_job
from auxeira.operations.lake_query import DuckDbEngine, QueryError, QueryResult
from auxeira.operations.local_stack_pipeline import LocalRuntime
from auxeira.runtime.objects import LocalObjects
from consumers.verify import Mismatch
from glue_jobs.pii import Tokenizer, resolve_key
from glue_jobs.query_pack import pack_query

__all__ = ["DEMO_QUERY", "LakeCheck", "check_lake"]

#: The pack query the demo shows.
DEMO_QUERY = "activity_leaderboard"


@dataclass
class LakeCheck:
    rows: int
    drift: list[Mismatch]
    query_ok: bool
    query: QueryResult | None = None
    seconds: float = 0.0
    error: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def check_lake(runtime: LocalRuntime, tenants: list[str], console: Console) -> LakeCheck:
    """The steps of the module docstring on ``runtime``'s lake."""
    started = time.monotonic()
    root = runtime.lake_root
    curated = run_job("raw_to_curated", root, engine="arrow")
    run_job("current_state", root, engine="arrow")
    tokenizer = Tokenizer(resolve_key(root))
    drift = current_drift(
        LocalObjects(root), runtime.dynamodb, runtime.env, tokenizer, tables=runtime.tables, tenants=set(tenants)
    )
    query, error = None, ""
    try:
        query = DuckDbEngine(root).run(pack_query(DEMO_QUERY).sql)
    except QueryError as exc:
        error = str(exc)
    ok = query is not None and bool(query.rows)
    if query is not None:
        _print(console, query)
    return LakeCheck(curated.total_rows, drift, ok, query, time.monotonic() - started, error, dict(curated.rows))


def _print(console: Console, result: QueryResult) -> None:
    table = Table(*result.columns, title=f"lake: {DEMO_QUERY} (DuckDB over the curated and current Parquet)")
    for row in result.rows[:12]:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
