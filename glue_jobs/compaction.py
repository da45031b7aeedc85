"""Compaction: a curated partition's small files rewritten into files near a target size.

Hourly runs append a file per partition each time (debezium-server-iceberg #229, #466:
CDC sinks drown in small files). Once a day, per partition with more files than its size
needs, in this order:

1. write a manifest (``_state/compact/{table}/dt=....json``) naming the files to replace
   and the files to write;
2. stream the old files' row groups, in name order, into new files of about
   ``target_bytes`` (conformed to the table's current schema, so partitions written
   before a field was added gain the null column);
3. check the new files hold exactly as many rows as the old ones;
4. delete the old files, then the manifest.

Rows are copied, never changed or reordered across files. A crash leaves the manifest:
the next run finishes step 4 if every new file is complete, else deletes the new files
and starts the partition over. Between steps 2 and 4 a reader listing the partition
sees both copies for a moment (Hive tables have no atomic commit; Iceberg's
``rewrite_data_files`` would, see the ADR in the README, "The lake, for analysts"). ``raw_to_curated``
may run meanwhile: it reads old and new files alike and compaction deletes only the
files it read.

It is pyarrow, not Spark: it moves bytes, one output file in memory at a time; the
Glue job runs it on the driver.
"""

from __future__ import annotations

import io
import math
from typing import Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from auxeira.runtime.objects import ObjectStore
from glue_jobs.parquet_io import COMPRESSION, arrow_schema, conform, content_name, partition_files
from glue_jobs.runs import Progress, RunResult, quiet
from glue_jobs.tables import DT, LakeTable, curated_tables
from schemas.resources import LAKE

__all__ = ["DEFAULT_TARGET_BYTES", "compact", "compact_partition", "recover"]

DEFAULT_TARGET_BYTES = 128 * 2**20


def _manifest_key(table: LakeTable, dt: str) -> str:
    return f"{LAKE.state}/compact/{table.name}/{DT}={dt}.json"


def compact(objects: ObjectStore, *, target_bytes: int = DEFAULT_TARGET_BYTES, progress: Progress = quiet) -> RunResult:
    """Compact every curated partition that needs it."""
    result = RunResult("compact", "arrow")
    tables = curated_tables()
    for done, table in enumerate(tables, 1):
        recover(objects, table)
        for dt in _partitions(objects, table):
            written = compact_partition(objects, table, dt, target_bytes)
            if written:
                result.objects += written[0]
                result.rows[table.name] = result.rows.get(table.name, 0) + written[1]
        progress(done, len(tables), table.name)
    return result


def _partitions(objects: ObjectStore, table: LakeTable) -> list[str]:
    found = set()
    for key in objects.list(table.location):
        part = key.removeprefix(table.location).split("/", 1)[0]
        if part.startswith(f"{DT}="):
            found.add(part.removeprefix(f"{DT}="))
    return sorted(found)


def compact_partition(
    objects: ObjectStore, table: LakeTable, dt: str, target_bytes: int = DEFAULT_TARGET_BYTES
) -> tuple[int, int] | None:
    """Compact one partition (steps in the module docstring); ``(files replaced, rows)`` or
    None when it is already as few files as its size needs."""
    old = partition_files(objects, table, dt)
    sizes = {key: len(objects.get(key)) for key in old} if len(old) > 1 else {}
    needed = max(1, math.ceil(sum(sizes.values()) / target_bytes)) if sizes else len(old)
    if len(old) <= needed:
        return None
    schema = arrow_schema(table.columns)
    folder = f"{table.location}{DT}={dt}/"
    blobs = _rewrite(objects, old, schema, target_bytes)
    names = [f"{folder}{content_name([*old, str(i)], prefix='compacted')}" for i in range(len(blobs))]
    manifest = {"replace": old, "write": names, "rows": sum(rows for _, rows in blobs)}
    objects.put(_manifest_key(table, dt), orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    for name, (blob, _) in zip(names, blobs, strict=True):
        objects.put(name, blob, content_type="application/vnd.apache.parquet")
    _finish(objects, table, dt, manifest)
    return len(old), sum(rows for _, rows in blobs)


def _rewrite(objects: ObjectStore, keys: list[str], schema: pa.Schema, target_bytes: int) -> list[tuple[bytes, int]]:
    """The rows of ``keys`` (in order) as Parquet blobs of about ``target_bytes`` each."""
    blobs: list[tuple[bytes, int]] = []
    sink, writer, rows = io.BytesIO(), None, 0
    for key in keys:
        file = pq.ParquetFile(io.BytesIO(objects.get(key)))
        for group in range(file.num_row_groups):
            batch = conform(file.read_row_group(group), schema)
            if writer is None:
                writer = pq.ParquetWriter(sink, schema, compression=COMPRESSION)
            writer.write_table(batch)
            rows += batch.num_rows
            if sink.tell() >= target_bytes:
                writer.close()
                blobs.append((sink.getvalue(), rows))
                sink, writer, rows = io.BytesIO(), None, 0
    if writer is not None:
        writer.close()
        blobs.append((sink.getvalue(), rows))
    return blobs


def _finish(objects: ObjectStore, table: LakeTable, dt: str, manifest: dict[str, Any]) -> None:
    written = sum(pq.ParquetFile(io.BytesIO(objects.get(k))).metadata.num_rows for k in manifest["write"])
    if written != manifest["rows"]:
        raise RuntimeError(f"compaction of {table.name} dt={dt}: wrote {written} rows of {manifest['rows']}")
    for key in manifest["replace"]:
        objects.delete(key)
    objects.delete(_manifest_key(table, dt))


def recover(objects: ObjectStore, table: LakeTable) -> int:
    """Finish or undo compactions a crash interrupted; returns how many."""
    prefix = f"{LAKE.state}/compact/{table.name}/"
    recovered = 0
    for key in list(objects.list(prefix)):
        manifest = orjson.loads(objects.get(key))
        dt = key.rsplit(f"{DT}=", 1)[-1].removesuffix(".json")
        complete = all(objects.exists(k) for k in manifest["write"])
        try:
            if complete:
                _finish(objects, table, dt, manifest)
                recovered += 1
                continue
        except Exception:  # noqa: BLE001 - a new file is unreadable: undo below
            complete = False
        for name in manifest["write"]:
            objects.delete(name)
        objects.delete(key)
        recovered += 1
    return recovered
