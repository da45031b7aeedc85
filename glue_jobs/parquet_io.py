"""Parquet files of the lake through the object store, with pyarrow: schemas, writes, reads.

Every lake write goes through :class:`~auxeira.runtime.objects.ObjectStore`, so a local
directory and S3 behave alike. Files are snappy Parquet; timestamps are microseconds
without a zone (UTC by convention: Athena's ``timestamp``), as the Spark job writes them.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from auxeira.runtime.objects import ObjectStore
from glue_jobs.columns import Column, ColumnType
from glue_jobs.tables import DT, LakeTable

__all__ = [
    "arrow_schema",
    "arrow_type",
    "content_name",
    "parquet_bytes",
    "partition_files",
    "read_file",
    "read_files",
    "table_files",
]

COMPRESSION = "snappy"


def arrow_type(kind: ColumnType) -> pa.DataType:
    simple = {
        "string": pa.string(),
        "json": pa.string(),
        "bigint": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "timestamp": pa.timestamp("us"),
        "date": pa.date32(),
        "map": pa.map_(pa.string(), pa.string()),
    }
    if kind.kind in simple:
        return simple[kind.kind]
    if kind.kind == "decimal":
        return pa.decimal128(kind.precision, kind.scale)
    if kind.kind == "array":
        assert kind.element is not None
        return pa.list_(arrow_type(kind.element))
    return pa.struct([pa.field(f.name, arrow_type(f.type)) for f in kind.fields])


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c.type)) for c in columns])


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=COMPRESSION)
    return sink.getvalue()


def rows_to_table(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) to a table of ``schema``; maps given as dicts become Arrow maps."""
    columns = {}
    for field in schema:
        values = [_arrow_value(field.type, row.get(field.name)) for row in rows]
        columns[field.name] = pa.array(values, type=field.type)
    return pa.table(columns, schema=schema)


def _arrow_value(kind: pa.DataType, value: Any) -> Any:
    if value is None:
        return None
    if pa.types.is_map(kind):
        return list(value.items())
    if pa.types.is_struct(kind):
        return {f.name: _arrow_value(f.type, value.get(f.name)) for f in kind}
    if pa.types.is_list(kind):
        return [_arrow_value(kind.value_type, v) for v in value]
    return value


def content_name(keys: Iterable[str], prefix: str = "part") -> str:
    """A file name from its rows' identities: the same rows give the same name."""
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:24]
    return f"{prefix}-{digest}.parquet"


def table_files(objects: ObjectStore, table: LakeTable) -> list[str]:
    """Every data file of a curated table (all partitions), sorted."""
    return [k for k in objects.list(table.location) if _is_data(k)]


def partition_files(objects: ObjectStore, table: LakeTable, dt: str) -> list[str]:
    return [k for k in objects.list(f"{table.location}{DT}={dt}/") if _is_data(k)]


def _is_data(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith(("_", "."))


def read_file(objects: ObjectStore, key: str, columns: Sequence[str] | None = None) -> pa.Table:
    """One Parquet file (only ``columns`` that it has, when given)."""
    file = pq.ParquetFile(io.BytesIO(objects.get(key)))
    wanted = None if columns is None else [c for c in columns if c in file.schema_arrow.names]
    return file.read(columns=wanted)


def read_files(objects: ObjectStore, keys: Sequence[str], schema: pa.Schema) -> pa.Table:
    """Files of one table as ``schema``: columns a file lacks (written before a field was
    added) are null, so partitions written before a schema change still read."""
    parts = [conform(read_file(objects, key, schema.names), schema) for key in keys]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in its order; missing ones (and missing struct
    fields, at any depth) null."""
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            arrays.append(_conform_array(table.column(field.name).combine_chunks(), field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _conform_array(array: pa.Array, kind: pa.DataType) -> pa.Array:
    if array.type == kind:
        return array
    if pa.types.is_struct(kind) and pa.types.is_struct(array.type):
        present = {array.type.field(i).name for i in range(array.type.num_fields)}
        children = [
            _conform_array(array.field(f.name), f.type) if f.name in present else pa.nulls(len(array), type=f.type)
            for f in kind
        ]
        return pa.StructArray.from_arrays(children, fields=list(kind), mask=array.is_null())
    return array.cast(kind)
