"""The Glue Data Catalog of the lake and its Glue jobs, as pure definitions.

Nothing here does I/O: ``infra`` renders these into ``AWS::Glue::Database``,
``AWS::Glue::Table``, ``AWS::Glue::Job`` and ``AWS::Glue::Trigger`` resources, and
:func:`table_input` gives the same table as boto3's ``create_table(TableInput=...)``
(what the tests check against moto's Glue, and what ``current_state`` updates to flip a
current table to its new snapshot). The columns come from the models through
:mod:`glue_jobs.tables`, so the catalog, the Parquet files and the local DuckDB views
cannot disagree.

Curated tables are partitioned by ``dt`` with **partition projection** (``date``, from
``2020-01-01`` to ``NOW``, daily), so Athena finds partitions from the query's filter:
no crawler, no ``MSCK REPAIR TABLE``, no ``BatchCreatePartition`` after each run. Current
tables have no partitions; their location is the snapshot the job last published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glue_jobs.columns import Column
from glue_jobs.tables import DT, LakeTable, all_tables

__all__ = [
    "GLUE_JOBS",
    "GLUE_VERSION",
    "GlueJobDef",
    "GlueTableDef",
    "glue_database_name",
    "glue_table_definition",
    "glue_table_definitions",
    "table_input",
]

GLUE_VERSION = "5.0"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PROJECTION_START = "2020-01-01"


def glue_database_name(env: str) -> str:
    """The lake's Glue database of an environment: ``auxeira_lake_{env}`` (Glue names are
    lower case with underscores; ``-`` in an environment name becomes ``_``)."""
    return f"auxeira_lake_{env.replace('-', '_')}"


@dataclass(frozen=True)
class GlueTableDef:
    """One Glue table.

    Attributes:
        name: the table name (``curated_startup``).
        location: the storage location, ``{lake_root}/curated/startup/`` (an ``s3://`` URI
            on AWS).
        columns: ``(name, Glue type)`` of the data columns, in file order; names lower
            case, as Glue stores them (Athena matches Parquet columns by name, ignoring case).
        partition_keys: ``(name, Glue type)``: ``(("dt", "string"),)`` or none.
        parameters: table parameters: ``classification``, partition projection, and
            ``auxeira.pii_columns`` (comma-separated dotted paths of tokenized columns).
        serde, input_format, output_format: Parquet's (Hive names).
    """

    name: str
    location: str
    columns: tuple[tuple[str, str], ...]
    partition_keys: tuple[tuple[str, str], ...]
    parameters: dict[str, str]
    description: str = ""
    serde: str = PARQUET_SERDE
    input_format: str = PARQUET_INPUT
    output_format: str = PARQUET_OUTPUT


def glue_table_definition(table: LakeTable, lake_root: str) -> GlueTableDef:
    """The Glue definition of one lake table under ``lake_root``."""
    location = f"{lake_root.rstrip('/')}/{table.location}"
    parameters = {
        "classification": "parquet",
        "parquet.compression": "SNAPPY",
        "EXTERNAL": "TRUE",
        "auxeira.layer": table.layer,
        "auxeira.entity": table.entity,
        "auxeira.pii_columns": ",".join(_pii_paths(table.columns)),
    }
    if table.partition_keys:
        parameters.update(
            {
                "projection.enabled": "true",
                f"projection.{DT}.type": "date",
                f"projection.{DT}.format": "yyyy-MM-dd",
                f"projection.{DT}.range": f"{PROJECTION_START},NOW",
                f"projection.{DT}.interval": "1",
                f"projection.{DT}.interval.unit": "DAYS",
                "storage.location.template": f"{location}{DT}=${{{DT}}}/",
            }
        )
    what = "every change" if table.layer == "curated" else "the latest state per key"
    return GlueTableDef(
        name=table.name,
        location=location,
        columns=tuple((c.name.lower(), c.type.glue()) for c in table.columns),
        partition_keys=table.partition_keys,
        parameters=parameters,
        description=f"{table.entity}: {what} ({table.layer}, from the {table.source} envelopes)",
    )


def glue_table_definitions(env: str, lake_root: str) -> list[GlueTableDef]:
    """Every lake table of an environment whose lake is ``lake_root`` (``s3://bucket/prefix``).

    The tables are the same in every environment (``env`` names their database,
    :func:`glue_database_name`). A current table's ``location`` is its root; each
    ``current_state`` run points the table at the snapshot it published (UpdateTable).
    """
    del env
    return [glue_table_definition(t, lake_root) for t in all_tables()]


def _pii_paths(columns: tuple[Column, ...], prefix: str = "") -> list[str]:
    out: list[str] = []
    for column in columns:
        path = f"{prefix}{column.name}"
        if column.pii:
            out.append(path.lower())
        elif column.type.kind == "struct":
            out += _pii_paths(column.type.fields, f"{path}.")
    return out


def table_input(definition: GlueTableDef, location: str | None = None) -> dict[str, Any]:
    """boto3 ``glue.create_table(DatabaseName=..., TableInput=table_input(d))``; ``location``
    overrides the storage location (a current table's snapshot)."""
    return {
        "Name": definition.name,
        "Description": definition.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": dict(definition.parameters),
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in definition.partition_keys],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in definition.columns],
            "Location": location or definition.location,
            "InputFormat": definition.input_format,
            "OutputFormat": definition.output_format,
            "Compressed": True,
            "SerdeInfo": {"SerializationLibrary": definition.serde, "Parameters": {"serialization.format": "1"}},
            "StoredAsSubDirectories": False,
        },
    }


@dataclass(frozen=True)
class GlueJobDef:
    """One Glue job and when it runs.

    Attributes:
        name: the job name, with ``{env}`` (``auxeira-raw-to-curated-{env}``).
        script: the script's path in this repository (``glue_jobs/raw_to_curated.py``);
            CloudFormation uploads it and passes the project as ``--extra-py-files``.
        arguments: the job's default arguments (``--name``: value); ``{lake_root}``,
            ``{env}``, ``{database}`` and ``{pii_key_secret}`` are filled in by the renderer.
        schedule: the trigger's cron expression (UTC).
        workers, worker_type: Glue capacity.
        max_concurrent_runs: 1: the jobs' state assumes one run at a time.
    """

    name: str
    script: str
    arguments: dict[str, str] = field(default_factory=dict)
    schedule: str = ""
    workers: int = 2
    worker_type: str = "G.1X"
    timeout_minutes: int = 60
    max_concurrent_runs: int = 1
    glue_version: str = GLUE_VERSION
    description: str = ""


_COMMON = {
    "--lake-root": "{lake_root}",
    "--env": "{env}",
    "--glue-database": "{database}",
    "--pii-key-secret": "{pii_key_secret}",
    "--job-language": "python",
    "--enable-metrics": "true",
    "--enable-continuous-cloudwatch-log": "true",
    "--enable-job-insights": "true",
}

GLUE_JOBS: tuple[GlueJobDef, ...] = (
    GlueJobDef(
        name="auxeira-raw-to-curated-{env}",
        script="glue_jobs/raw_to_curated.py",
        arguments=dict(_COMMON),
        schedule="cron(10 * * * ? *)",
        description="raw events -> typed curated Parquet, hourly (at :10, after the archiver's last batches of the hour)",
    ),
    GlueJobDef(
        name="auxeira-current-state-{env}",
        script="glue_jobs/current_state.py",
        arguments=dict(_COMMON),
        schedule="cron(40 3 * * ? *)",
        description="curated -> current state per entity, daily; each run a new snapshot switched atomically",
    ),
    GlueJobDef(
        name="auxeira-compact-{env}",
        script="glue_jobs/compact.py",
        arguments={**{k: v for k, v in _COMMON.items() if k != "--pii-key-secret"}, "--target-file-mb": "128"},
        schedule="cron(20 2 * * ? *)",
        workers=2,
        description="rewrites each curated partition's small files into files of ~128 MiB, daily",
    ),
)
