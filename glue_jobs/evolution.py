"""Schema changes: an added optional field lands as a nullable column; a removed or retyped
field is refused, naming the entity and the field.

Each table's columns as last written live in ``_state/schemas/{table}.json`` (written
with the data). Before writing, a job compares the columns the models give now with that
record, at every depth of a struct:

* a column the record lacks is *added*: allowed. Files written before have no such
  column; every reader (DuckDB's ``union_by_name``, Athena's Parquet read by name,
  :func:`glue_jobs.parquet_io.conform`) reads it as null there.
* a column the models no longer give, or give another type, is refused with
  :class:`SchemaChangeRefused`: old files would hold values the table can no longer
  describe (Athena would fail on them, or read them wrongly). Add a new field instead,
  and stop writing the old one.
"""

from __future__ import annotations

import orjson

from auxeira.runtime.objects import ObjectStore
from glue_jobs.columns import Column
from glue_jobs.tables import LakeTable
from schemas.errors import PipelineError
from schemas.resources import LAKE

__all__ = ["SchemaChangeRefused", "check_schema", "record_schema", "schema_key"]


class SchemaChangeRefused(PipelineError, ValueError):
    """A model dropped or retyped a field the table already has."""


def schema_key(table: LakeTable) -> str:
    return f"{LAKE.state}/schemas/{table.name}.json"


def _types(columns: tuple[Column, ...], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for column in columns:
        path = f"{prefix}{column.name}"
        out[path] = column.type.glue()
        if column.type.kind == "struct":
            out.update(_types(column.type.fields, f"{path}."))
    return out


def check_schema(objects: ObjectStore, table: LakeTable) -> list[str]:
    """The columns (dotted paths) this write adds; raises when one would be dropped or retyped."""
    key = schema_key(table)
    now = _types(table.columns)
    if not objects.exists(key):
        return []
    before: dict[str, str] = orjson.loads(objects.get(key))["columns"]
    for path, kind in before.items():
        if path not in now:
            raise SchemaChangeRefused(
                f"{table.entity}: field {path!r} ({kind}) is in {table.name} but no longer in the model: "
                "removing a field is refused (its old values would become unreadable); keep it optional instead"
            )
        if now[path] != kind and not (kind.startswith("struct<") and now[path].startswith("struct<")):
            raise SchemaChangeRefused(
                f"{table.entity}: field {path!r} was {kind} in {table.name}, the model now makes it {now[path]}: "
                "retyping a field is refused; add a field with the new type instead"
            )
    return sorted(p for p in now if p not in before)


def record_schema(objects: ObjectStore, table: LakeTable) -> None:
    objects.put(schema_key(table), orjson.dumps({"columns": _types(table.columns)}, option=orjson.OPT_INDENT_2))
