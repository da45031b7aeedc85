"""The lake, operated from this machine: run a job, show what it holds, check it against the tables.

* :func:`run_job` runs a Glue job's own ``run`` function with Glue-style flags (Spark in
  this process, or ``engine="arrow"``: pyarrow alone, no JVM), so the command line, the
  demo and the tests run exactly what Glue runs.
* :func:`lake_stats`: files, rows and bytes per table and partition (Parquet footers, no
  data read), raw objects and bytes per day.
* :func:`current_drift`: every difference between the current tables and a scan of the
  DynamoDB tables, flattened and tokenized by the same code as the lake's rows.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from auxeira.runtime.objects import ObjectStore
from consumers.verify import Expected, Mismatch, expected_states, scan_items
from glue_jobs import snapshots
from glue_jobs.flatten import entity_values
from glue_jobs.parquet_io import arrow_schema, read_files
from glue_jobs.pii import Tokenizer
from glue_jobs.raw_format import day_of
from glue_jobs.runs import Progress, RunResult, quiet
from glue_jobs.tables import EXTRA, IS_DELETED, LakeTable, curated_tables, current_table, current_tables
from schemas import catalog
from schemas.resources import LAKE
from schemas.tables import TableSpec

__all__ = ["JOBS", "PartitionStats", "current_drift", "current_rows", "lake_stats", "run_job"]

#: Job name -> the module whose ``run(argv, progress)`` is the Glue job.
JOBS = {
    "raw_to_curated": "glue_jobs.raw_to_curated",
    "current_state": "glue_jobs.current_state",
    "compact": "glue_jobs.compact",
}


def run_job(
    job: str,
    lake_root: str,
    *,
    engine: str = "spark",
    start: date | None = None,
    end: date | None = None,
    mark: str | None = None,
    pii_key: str | None = None,
    extra: Sequence[str] = (),
    progress: Progress = quiet,
) -> RunResult:
    """Run one lake job on ``lake_root`` (a directory or ``s3://``) with Glue-style flags."""
    import importlib

    if job not in JOBS:
        raise ValueError(f"unknown lake job {job!r}; jobs: {', '.join(JOBS)}")
    argv = [job, "--lake-root", lake_root, "--engine", engine]
    if start is not None and end is not None:
        argv += ["--from", start.isoformat(), "--to", end.isoformat()]
    if mark is not None:
        argv += ["--mark", mark]
    if pii_key is not None:
        argv += ["--pii-key", pii_key]
    module = importlib.import_module(JOBS[job])
    result: RunResult = module.run([*argv, *extra], progress)
    return result


@dataclass(frozen=True)
class PartitionStats:
    """One partition (or snapshot, or raw day) of one table."""

    table: str
    partition: str
    files: int
    rows: int | None
    bytes: int


def lake_stats(objects: ObjectStore) -> list[PartitionStats]:
    """Files, rows and bytes per curated partition, current snapshot and raw day."""
    out: list[PartitionStats] = []
    raw: dict[str, list[int]] = {}
    for key in objects.list(f"{LAKE.raw}/"):
        day = day_of(key)
        if day is not None:
            raw.setdefault(day.isoformat(), []).append(len(objects.get(key)))
    out += [PartitionStats("raw_events", f"dt={d}", len(s), None, sum(s)) for d, s in sorted(raw.items())]
    for table in curated_tables():
        parts: dict[str, list[str]] = {}
        for key in objects.list(table.location):
            if key.endswith(".parquet"):
                parts.setdefault(key.removeprefix(table.location).rsplit("/", 1)[0], []).append(key)
        out += [_stats(objects, table.name, p, keys) for p, keys in sorted(parts.items())]
    for table in current_tables():
        folder = snapshots.resolve(objects, table)
        if folder is not None:
            keys = [k for k in objects.list(folder) if k.endswith(".parquet")]
            out.append(_stats(objects, table.name, folder.removeprefix(table.location).strip("/"), keys))
    return out


def _stats(objects: ObjectStore, table: str, partition: str, keys: list[str]) -> PartitionStats:
    rows = size = 0
    for key in keys:
        body = objects.get(key)
        size += len(body)
        rows += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
    return PartitionStats(table, partition, len(keys), rows, size)


def current_rows(objects: ObjectStore, table: LakeTable) -> list[dict[str, Any]]:
    """The rows of a current table's published snapshot (none before the first run)."""
    folder = snapshots.resolve(objects, table)
    if folder is None:
        return []
    keys = [k for k in objects.list(folder) if k.endswith(".parquet")]
    return read_files(objects, keys, arrow_schema(table.columns)).to_pylist()


def current_drift(
    objects: ObjectStore,
    dynamodb: Any,
    env: str,
    tokenizer: Tokenizer,
    *,
    tables: Iterable[TableSpec] = catalog.TABLES,
    tenants: set[str] | None = None,
) -> list[Mismatch]:
    """Every difference between the current tables and the DynamoDB tables' public state.

    An item is expected in its entity's current table with its key, tenant, version,
    ``is_deleted`` and every column and ``_extra`` as the lake computes them from its
    public image (pii tokenized with ``tokenizer``).
    """
    expected: dict[str, dict[tuple[str, str], Expected]] = {}
    for spec in tables:
        for exp in expected_states(spec, scan_items(dynamodb, spec.physical_name(env)), tenants):
            expected.setdefault(exp.entity, {})[(exp.entity, exp.key)] = exp
    found: list[Mismatch] = []
    for entity in sorted({e.name for spec in tables for e in spec.entities}):
        table = current_table(entity)
        rows = {
            (entity, r["key"]): r for r in current_rows(objects, table) if tenants is None or r["tenant_id"] in tenants
        }
        for ident, exp in sorted(expected.get(entity, {}).items()):
            row = rows.pop(ident, None)
            if row is None:
                found.append(Mismatch(f"{table.name} {exp.key}", "in the table, missing from the current table"))
                continue
            found += [
                Mismatch(f"{table.name} {exp.key}", reason) for reason in _differences(table, exp, row, tokenizer)
            ]
        found += [Mismatch(f"{table.name} {key}", "in the current table, not in the table") for _, key in sorted(rows)]
    return found


def _differences(table: LakeTable, exp: Expected, row: dict[str, Any], tokenizer: Tokenizer) -> list[str]:
    values, extra = entity_values(table, exp.state, tokenizer)
    want: dict[str, Any] = {
        table.envelope["tenant_id"]: exp.tenant,
        table.envelope["version"]: Decimal(exp.version or 0),
        IS_DELETED: exp.state.get("deleted_at") is not None,
        **values,
        EXTRA: extra or None,
    }
    got = {**row, EXTRA: orjson.loads(row[EXTRA]) if row.get(EXTRA) else None}
    reasons = []
    for name, value in want.items():
        if _plain(got.get(name)) != _plain(value):
            reasons.append(f"{name}: lake has {_short(got.get(name))}, table has {_short(value)}")
    return reasons


def _plain(value: Any) -> Any:
    """Values as comparable plain data: Arrow maps (lists of pairs) as dicts, JSON texts parsed."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
