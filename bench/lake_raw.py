"""The lake's tables as DuckDB views over the *raw* archive: what querying the JSON costs.

``bench/lake.py`` runs the analysts' pack twice: over the curated and current Parquet
(:class:`auxeira.operations.lake_query.DuckDbEngine`) and over these views, which compute
the same tables from the gzip JSON Lines objects the archiver wrote (``curated_*``: one
row per envelope of the entity, typed with the columns the models give; ``current_*``:
the latest row per key by the envelope's order, removals dropped). Athena bills bytes
scanned; JSON cannot be read by column, so every query over these views reads every raw
object. Pii columns hold the raw values here (the lake tokenizes them); the pack reads none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auxeira.operations.lake_query import duckdb_type
from glue_jobs.columns import ColumnType
from glue_jobs.tables import DT, EXTRA, IS_DELETED, ORDER, LakeTable, curated_tables, current_tables
from schemas.envelope import SEQUENCE_DIGITS
from schemas.resources import LAKE

__all__ = ["raw_views"]


def _structure(kind: ColumnType) -> Any:
    """The ``json_transform`` structure of a column type."""
    if kind.kind == "struct":
        return {f.name: _structure(f.type) for f in kind.fields}
    if kind.kind == "array":
        assert kind.element is not None
        return [_structure(kind.element)]
    if kind.kind == "json":
        return "JSON"
    if kind.kind == "timestamp":
        return "TIMESTAMPTZ"
    return duckdb_type(kind)


def _curated(table: LakeTable) -> str:
    names = table.envelope
    structure = json.dumps({c.name: _structure(c.type) for c in table.fields}).replace("'", "''")
    sequence = "coalesce(data->'source'->>'sequence_number', '0')"
    head = [
        f"data->>'event_id' AS \"{names['event_id']}\"",
        f"data->>'event_type' AS \"{names['event_type']}\"",
        f"CAST(data->>'version' AS DECIMAL(20,0)) AS \"{names['version']}\"",
        f"CAST(CAST(data->>'occurred_at' AS TIMESTAMPTZ) AS TIMESTAMP) AS \"{names['occurred_at']}\"",
        f"data->>'tenant_id' AS \"{names['tenant_id']}\"",
        f"data->>'key' AS \"{names['key']}\"",
        f"data->>'actor' AS \"{names['actor']}\"",
    ]
    fields = [
        f'CAST(a."{c.name}" AS TIMESTAMP) AS "{c.name}"'
        if c.type.kind == "timestamp"
        else f'a."{c.name}" AS "{c.name}"'
        for c in table.fields
    ]
    tail = [
        f"CAST(NULL AS VARCHAR) AS {EXTRA}",
        f"lpad(data->>'version', 20, '0') || lpad({sequence}, {SEQUENCE_DIGITS}, '0') AS {ORDER}",
        f"strftime(CAST(CAST(data->>'occurred_at' AS TIMESTAMPTZ) AS TIMESTAMP), '%Y-%m-%d') AS {DT}",
    ]
    return (
        f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {", ".join([*head, *fields, *tail])} '
        f"FROM (SELECT data, json_transform(data->'after', '{structure}') AS a FROM raw_lines "
        f"WHERE data->>'entity' = '{table.entity}')"
    )


def _current(table: LakeTable, source: LakeTable) -> str:
    key, tenant = source.envelope["key"], source.envelope["tenant_id"]
    identity = f'"{key}"' if source.source == "table" else f'"{tenant}", "{key}"'
    deleted = '"deleted_at" IS NOT NULL' if "deleted_at" in source.field_names else "false"
    columns = ", ".join(f"{deleted} AS {IS_DELETED}" if c.name == IS_DELETED else f'"{c.name}"' for c in table.columns)
    return (
        f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {columns} FROM ('
        f'SELECT *, row_number() OVER (PARTITION BY {identity} ORDER BY {ORDER} DESC) AS _rank FROM "{source.name}") '
        f"WHERE _rank = 1 AND NOT regexp_matches(\"{source.envelope['event_type']}\", '\\.(deleted|expired)$')"
    )


def raw_views(connection: Any, lake_root: str | Path) -> None:
    """Create ``raw_lines`` and one view per lake table (named as in Glue) over the raw archive."""
    pattern = f"{Path(lake_root).absolute()}/{LAKE.raw}/dt=*/hour=*/*.jsonl.gz".replace("'", "''")
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(
        "CREATE OR REPLACE VIEW raw_lines AS SELECT data FROM read_json("
        f"'{pattern}', format = 'newline_delimited', compression = 'gzip', "
        "columns = {'arrival': 'DOUBLE', 'seq': 'VARCHAR', 'sub': 'BIGINT', 'data': 'JSON'})"
    )
    curated = {t.entity: t for t in curated_tables()}
    for table in curated.values():
        connection.execute(_curated(table))
    for table in current_tables():
        connection.execute(_current(table, curated[table.entity]))
