"""The Glue Data Catalog's I/O: create the lake's database and tables, point a current table
at its new snapshot. The definitions themselves are pure, in :mod:`glue_jobs.catalog`.

CloudFormation creates the catalog when deployed; these calls are for a catalog that no
stack owns (a test account, moto) and for ``current_state``'s flip on AWS.
"""

from __future__ import annotations

import contextlib
from typing import Any

from glue_jobs.catalog import glue_database_name, glue_table_definition, glue_table_definitions, table_input
from glue_jobs.tables import LakeTable

__all__ = ["create_catalog", "point_table", "snapshot_publisher"]


def create_catalog(glue: Any, env: str, lake_root: str) -> list[str]:
    """Create (or update) the database and every table; returns the table names."""
    database = glue_database_name(env)
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput={"Name": database, "Description": f"auxeira lake ({env})"})
    names = []
    for definition in glue_table_definitions(env, lake_root):
        _upsert(glue, database, table_input(definition))
        names.append(definition.name)
    return names


def point_table(glue: Any, database: str, table: LakeTable, lake_root: str, folder: str) -> None:
    """Make a current table read the snapshot ``folder`` (Athena's half of the atomic flip)."""
    definition = glue_table_definition(table, lake_root)
    _upsert(glue, database, table_input(definition, location=f"{lake_root.rstrip('/')}/{folder}"))


def snapshot_publisher(glue: Any, database: str, lake_root: str) -> Any:
    """An ``on_publish`` callback for ``current_state`` that keeps the catalog in step."""

    def publish(table: LakeTable, folder: str) -> None:
        point_table(glue, database, table, lake_root, folder)

    return publish


def _upsert(glue: Any, database: str, table: dict[str, Any]) -> None:
    try:
        glue.update_table(DatabaseName=database, TableInput=table)
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=table)
