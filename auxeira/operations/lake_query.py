"""SQL over the lake: DuckDB on this machine, Athena on AWS, one SQL text for both.

:class:`DuckDbEngine` creates one view per catalog table (the names Glue has:
``curated_startup``, ``current_startup``, ...), each with exactly the catalog's columns:

* a curated view reads ``curated/{entity}/dt=*/*.parquet`` with Hive partitioning (``dt``
  a string, as Glue declares it) and ``union_by_name``, so files written before a field
  was added read it as null; a column no file has yet is a typed null;
* a current view reads the snapshot the table's pointer names (never a half-written one);
* a table with no files yet is an empty view of the right columns.

:class:`AthenaEngine` runs the same text with boto3 (``StartQueryExecution`` in a
workgroup, polled, then ``GetQueryResults``), converting values by the result's column
types. Both return a :class:`QueryResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from glue_jobs import snapshots
from glue_jobs.columns import ColumnType
from glue_jobs.tables import DT, LakeTable, all_tables

__all__ = ["AthenaEngine", "DuckDbEngine", "QueryEngine", "QueryError", "QueryResult", "duckdb_type"]


class QueryError(RuntimeError):
    """The engine refused or failed the query; the message is the engine's."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: What the engine reports about the run (Athena: bytes scanned, the execution id).
    stats: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


class QueryEngine(Protocol):
    def run(self, sql: str) -> QueryResult: ...


def duckdb_type(kind: ColumnType) -> str:
    """The DuckDB type of a lake column type."""
    simple = {
        "string": "VARCHAR",
        "json": "VARCHAR",
        "bigint": "BIGINT",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
        "map": "MAP(VARCHAR, VARCHAR)",
    }
    if kind.kind in simple:
        return simple[kind.kind]
    if kind.kind == "decimal":
        return f"DECIMAL({kind.precision},{kind.scale})"
    if kind.kind == "array":
        assert kind.element is not None
        return f"{duckdb_type(kind.element)}[]"
    return "STRUCT(" + ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in kind.fields) + ")"


class DuckDbEngine:
    """The local lake through DuckDB views named as the Glue tables (see the module docstring)."""

    def __init__(self, lake_root: str | Path, tables: tuple[LakeTable, ...] | None = None):
        import duckdb

        from auxeira.runtime.objects import LocalObjects

        root = str(lake_root)
        if root.startswith("s3://"):
            raise QueryError("DuckDB reads the lake on this machine only; use --engine athena for an s3:// lake")
        self.root = Path(root).absolute()
        self.objects = LocalObjects(self.root)
        self.connection = duckdb.connect()
        for table in tables or all_tables():
            self.connection.execute(self._view(table))

    def _view(self, table: LakeTable) -> str:
        columns = [(c.name, duckdb_type(c.type)) for c in table.columns]
        if table.layer == "curated":
            columns.append((DT, "VARCHAR"))
            files = sorted((self.root / table.location).glob(f"{DT}=*/*.parquet"))
            pattern = _quoted(f"{self.root}/{table.location}{DT}=*/*.parquet")
            source = f"read_parquet({pattern}, hive_partitioning = true, union_by_name = true, hive_types = {{'{DT}': VARCHAR}})"
        else:
            folder = snapshots.resolve(self.objects, table)
            files = sorted((self.root / folder).glob("*.parquet")) if folder else []
            source = f"read_parquet({_quoted(f'{self.root}/{folder}*.parquet')}, union_by_name = true)"
        if not files:
            nulls = ", ".join(f'CAST(NULL AS {t}) AS "{n}"' for n, t in columns)
            return f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {nulls} WHERE false'
        present = {row[0] for row in self.connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        select = ", ".join(f'"{n}"' if n in present else f'CAST(NULL AS {t}) AS "{n}"' for n, t in columns)
        return f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {select} FROM {source}'

    def run(self, sql: str) -> QueryResult:
        import duckdb

        try:
            cursor = self.connection.execute(sql)
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from exc
        columns = tuple(d[0] for d in cursor.description or ())
        return QueryResult(columns, [tuple(r) for r in rows])


class AthenaEngine:
    """Athena through boto3: one query at a time, in a workgroup (whose settings the
    workgroup enforces: result location, encryption, the scan cutoff)."""

    def __init__(
        self,
        client: Any,
        database: str,
        workgroup: str,
        *,
        poll_seconds: float = 0.5,
        timeout_seconds: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.database = database
        self.workgroup = workgroup
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep

    def run(self, sql: str) -> QueryResult:
        started = self.client.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": self.database}, WorkGroup=self.workgroup
        )
        execution_id = started["QueryExecutionId"]
        execution = self._wait(execution_id)
        statistics = execution.get("Statistics", {})
        columns, rows = self._results(execution_id)
        stats = {"query_execution_id": execution_id, "bytes_scanned": statistics.get("DataScannedInBytes")}
        return QueryResult(columns, rows, stats)

    def _wait(self, execution_id: str) -> dict[str, Any]:
        waited = 0.0
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
            status = execution["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return dict(execution)
            if state in ("FAILED", "CANCELLED"):
                reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage", "")
                raise QueryError(f"Athena query {execution_id} {state.lower()}: {reason}")
            if waited >= self.timeout_seconds:
                raise QueryError(
                    f"Athena query {execution_id} still {state.lower()} after {self.timeout_seconds:.0f} s"
                )
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds

    def _results(self, execution_id: str) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        columns: tuple[str, ...] = ()
        types: list[str] = []
        rows: list[tuple[Any, ...]] = []
        first = True
        for page in self._pages(execution_id):
            result = page["ResultSet"]
            if not columns:
                info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = tuple(c["Name"] for c in info)
                types = [c.get("Type", "varchar") for c in info]
            data = result.get("Rows", [])
            if first and data and columns:
                # The first row of the first page is the header (for a SELECT).
                header = tuple(d.get("VarCharValue") for d in data[0].get("Data", []))
                if header == columns:
                    data = data[1:]
            first = False
            for row in data:
                cells = [d.get("VarCharValue") for d in row.get("Data", [])]
                rows.append(tuple(_athena_value(t, v) for t, v in zip(types, cells)))
        return columns, rows

    def _pages(self, execution_id: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"QueryExecutionId": execution_id}
        while True:
            page = self.client.get_query_results(**kwargs)
            yield page
            token = page.get("NextToken")
            if not token:
                return
            kwargs["NextToken"] = token


def _quoted(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _athena_value(kind: str, text: str | None) -> Any:
    """An Athena result cell (always text) as the value its column type says."""
    if text is None:
        return None
    kind = kind.lower()
    if kind in ("tinyint", "smallint", "integer", "int", "bigint"):
        return int(text)
    if kind in ("double", "float", "real"):
        return float(text)
    if kind.startswith("decimal"):
        return Decimal(text)
    if kind == "boolean":
        return text.lower() == "true"
    if kind == "date":
        return date.fromisoformat(text)
    if kind.startswith("timestamp"):
        return datetime.fromisoformat(text.replace(" UTC", "").strip())
    return text
