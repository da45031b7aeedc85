"""The lake jobs with pyarrow alone: the reference engine, and the fast path for small lakes.

``auxeira demo`` and the tests run these; the Glue scripts run the same steps in Spark
(:mod:`glue_jobs.spark_engine`) and the tests check that both give the same rows.

``raw_to_curated``, in this order:

1. list the raw objects to read: those not yet processed, or every object of the
   ``--from``/``--to`` window (:mod:`glue_jobs.state`);
2. read them; drop an event whose ``event_id`` was already read in this run;
3. flatten each envelope into its entity's curated row (:mod:`glue_jobs.flatten`);
4. check every table's schema against what was written before (:mod:`glue_jobs.evolution`);
   a refused change stops the run before anything is written;
5. per table and ``dt`` partition, drop the rows whose ``event_id`` the partition already
   holds (an event has one ``occurred_at``, hence one ``dt``), and write the rest as one
   file named after its rows (a crash and a re-run write the same name);
6. record the schemas, then mark the objects processed. A crash before step 6 re-reads
   the objects next time, and step 5 drops what was written.

``current_state``: per entity, the row of highest ``_order`` per key over the whole
curated table; removed (deleted, expired) items dropped; soft-deleted ones kept with
``is_deleted``; then a new snapshot is published (:mod:`glue_jobs.snapshots`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from auxeira.runtime.objects import ObjectStore
from glue_jobs import snapshots
from glue_jobs.evolution import check_schema, record_schema
from glue_jobs.flatten import flatten
from glue_jobs.parquet_io import (
    arrow_schema,
    content_name,
    parquet_bytes,
    partition_files,
    read_file,
    read_files,
    rows_to_table,
    table_files,
)
from glue_jobs.pii import Tokenizer
from glue_jobs.raw_format import list_raw_objects, payload, read_lines
from glue_jobs.runs import Progress, Publish, RunResult, quiet
from glue_jobs.state import ProcessedObjects
from glue_jobs.tables import DT, IS_DELETED, ORDER, LakeTable, curated_table, curated_tables, current_tables
from schemas.envelope import decode
from schemas.errors import PoisonRecordError

__all__ = ["current_state", "latest_per_key", "raw_to_curated"]

_REMOVED = r"\.(deleted|expired)$"


def raw_to_curated(
    objects: ObjectStore,
    tokenizer: Tokenizer,
    *,
    start: date | None = None,
    end: date | None = None,
    progress: Progress = quiet,
) -> RunResult:
    """Raw events to curated Parquet (steps in the module docstring)."""
    result = RunResult("raw_to_curated", "arrow")
    state = ProcessedObjects(objects)
    raw = list_raw_objects(objects, start, end)
    todo = raw if (start or end) else state.unprocessed(raw)
    tables = {t.entity: t for t in curated_tables()}
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    for done, obj in enumerate(todo, 1):
        for line in read_lines(objects.get(obj.key)):
            _route(line, tables, seen, rows, result, tokenizer)
        result.objects += 1
        progress(done, len(todo), obj.key)
    touched = {entity for entity, _ in rows}
    for entity in sorted(touched):
        check_schema(objects, tables[entity])
    for (entity, dt), batch in sorted(rows.items()):
        _write_partition(objects, tables[entity], dt, batch, result)
    for entity in touched:
        record_schema(objects, tables[entity])
    state.mark(todo)
    return result


def _route(
    line: bytes,
    tables: dict[str, LakeTable],
    seen: set[str],
    rows: dict[tuple[str, str], list[dict[str, Any]]],
    result: RunResult,
    tokenizer: Tokenizer,
) -> None:
    result.events += 1
    try:
        envelope = decode(payload(line))
    except (PoisonRecordError, ValueError):
        result.rejected += 1
        return
    if envelope.event_id in seen:
        result.duplicates += 1
        return
    seen.add(envelope.event_id)
    table = tables.get(envelope.entity)
    if table is None:
        result.unrouted += 1
        return
    row = flatten(table, envelope, tokenizer)
    rows[(table.entity, row[DT])].append(row)


def _write_partition(
    objects: ObjectStore, table: LakeTable, dt: str, batch: list[dict[str, Any]], result: RunResult
) -> None:
    id_column = table.envelope["event_id"]
    existing: set[str] = set()
    for key in partition_files(objects, table, dt):
        existing.update(read_file(objects, key, [id_column]).column(id_column).to_pylist())
    fresh = [r for r in batch if r[id_column] not in existing]
    result.duplicates += len(batch) - len(fresh)
    if not fresh:
        return
    fresh.sort(key=lambda r: (r[ORDER], r[id_column]))
    data = rows_to_table(fresh, arrow_schema(table.columns))
    name = content_name(r[id_column] for r in fresh)
    objects.put(f"{table.location}{DT}={dt}/{name}", parquet_bytes(data), content_type="application/vnd.apache.parquet")
    result.rows[table.name] = result.rows.get(table.name, 0) + len(fresh)


# -- current state ------------------------------------------------------------------------


def current_state(
    objects: ObjectStore,
    *,
    entities: list[str] | None = None,
    progress: Progress = quiet,
    on_publish: Publish | None = None,
) -> RunResult:
    """Latest state per key, published as a new snapshot per current table; ``on_publish``
    (table, snapshot folder) is called after each flip (the Glue catalog's update)."""
    result = RunResult("current_state", "arrow")
    tables = [t for t in current_tables() if entities is None or t.entity in entities]
    for done, table in enumerate(tables, 1):
        source = curated_table(table.entity)
        files = table_files(objects, source)
        data = read_files(objects, files, arrow_schema(source.columns))
        current = latest_per_key(source, table, data)
        folder = snapshots.new_snapshot(table, salt=str(len(files)))
        objects.put(
            f"{folder}part-00000.parquet", parquet_bytes(current), content_type="application/vnd.apache.parquet"
        )
        snapshots.publish(objects, table, folder, current.num_rows)
        if on_publish is not None:
            on_publish(table, folder)
        snapshots.expire(objects, table)
        result.objects += len(files)
        result.events += data.num_rows
        result.rows[table.name] = current.num_rows
        progress(done, len(tables), table.name)
    return result


def latest_per_key(source: LakeTable, table: LakeTable, data: pa.Table) -> pa.Table:
    """The current table's rows from the curated rows of one entity (see the module docstring)."""
    key, tenant = source.envelope["key"], source.envelope["tenant_id"]
    # A table item is its key wherever it moves (a tenant move keeps the key); a
    # published state is per tenant and key.
    identity = (
        data.column(key)
        if source.source == "table"
        else pc.binary_join_element_wise(data.column(tenant), data.column(key), "\x1f")
    )
    data = data.append_column("_identity", identity)
    data = data.take(pc.sort_indices(data, [("_identity", "ascending"), (ORDER, "descending")]))
    ids = data.column("_identity").combine_chunks()
    if len(ids):
        previous = pa.concat_arrays([pa.nulls(1, ids.type), ids.slice(0, len(ids) - 1)])
        data = data.filter(pc.fill_null(pc.not_equal(ids, previous), True))
    event_type = data.column(source.envelope["event_type"])
    data = data.filter(pc.invert(pc.match_substring_regex(event_type, _REMOVED)))
    deleted = (
        pc.is_valid(data.column("deleted_at"))
        if "deleted_at" in data.column_names
        else pa.array([False] * data.num_rows, pa.bool_())
    )
    data = data.append_column(IS_DELETED, deleted)
    data = data.take(pc.sort_indices(data, [(tenant, "ascending"), (key, "ascending")]))
    return data.select([c.name for c in table.columns]).cast(arrow_schema(table.columns))
