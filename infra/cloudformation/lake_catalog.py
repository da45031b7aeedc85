"""The lake's catalog as the templates need it: ``glue_jobs.catalog`` rendered with placeholders.

``glue_jobs.catalog`` describes the Glue database, tables and jobs of one environment
and one lake root (pure definitions: :class:`GlueTableDef`, :class:`GlueJobDef`). To
render one template for every environment it is called with placeholders
(:data:`ENV_PLACEHOLDER`, :data:`LAKE_PLACEHOLDER`, and :data:`SECRET_PLACEHOLDER` for
the job argument ``{pii_key_secret}``), and every string holding one becomes an
``Fn::Sub`` of ``${Env}`` / ``${LakeBucket}`` / ``${PiiKeySecret}``; any other ``${...}``
in such a string (a partition projection's ``storage.location.template`` holds
``${dt}``) is escaped as ``${!...}`` so that CloudFormation leaves it for Athena.

What each job may do is derived, not declared twice: a job whose arguments name the
pii key secret may read it; a job whose script reaches ``glue_jobs.catalog_sync`` (the
current-state flip) may update the catalog's tables; the third-party packages its
modules import and Glue 5.0 does not provide are pinned from ``requirements/lambda.lock``
into ``--additional-python-modules`` (:mod:`infra.package.glue_modules`).

When ``glue_jobs.catalog`` does not exist, :func:`lake_catalog` returns the scaffold:
the database only, no tables, no jobs.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.cloudformation.model import logical_id, sub
from infra.package.glue_modules import python_modules, reaches
from schemas.resources import LAKE

__all__ = [
    "ENV_PLACEHOLDER",
    "LAKE_PLACEHOLDER",
    "SECRET_PLACEHOLDER",
    "LakeCatalog",
    "LakeJob",
    "cfn_value",
    "from_module",
    "lake_catalog",
    "text",
]

#: Stand in for the environment, the lake bucket and the pii key secret while rendering.
ENV_PLACEHOLDER = "zzenvzz"
LAKE_PLACEHOLDER = "zzlakebucketzz"
SECRET_PLACEHOLDER = "zzpiikeysecretzz"
_SUBSTITUTIONS = {ENV_PLACEHOLDER: "${Env}", LAKE_PLACEHOLDER: "${LakeBucket}", SECRET_PLACEHOLDER: "${PiiKeySecret}"}
_MODULE = "glue_jobs.catalog"
_CATALOG_WRITER = "glue_jobs.catalog_sync"
_ROOT = Path(__file__).resolve().parents[2]
#: What a job reads and writes in the lake: its tables' prefixes, and its own state.
_READS = (f"{LAKE.raw}/", f"{LAKE.curated}/", f"{LAKE.current}/")
_WRITES = (f"{LAKE.curated}/", f"{LAKE.current}/", f"{LAKE.state}/")


@dataclass(frozen=True)
class LakeJob:
    """One Glue job as the templates render it.

    Attributes:
        key: its short name (``raw-to-curated``): logical ids, role names, parameters.
        name: its physical name (text, ``${Env}`` inside).
        source: the entry script's path in the repository; ``script``: under the release's ``glue/``.
        reads_secret: it takes ``--pii-key-secret`` (GetSecretValue on that secret).
        updates_catalog: it points tables at new snapshots (UpdateTable on the database's tables).
    """

    key: str
    name: str
    source: str
    script: str
    schedule: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    timeout_minutes: int = 60
    workers: int = 2
    worker_type: str = "G.1X"
    max_concurrent_runs: int = 1
    glue_version: str = "5.0"
    reads: tuple[str, ...] = _READS
    writes: tuple[str, ...] = _WRITES
    reads_secret: bool = False
    updates_catalog: bool = False

    @property
    def logical(self) -> str:
        return logical_id(self.key)


@dataclass(frozen=True)
class LakeCatalog:
    """Database name (text, ``${Env}`` inside), ``AWS::Glue::Table`` inputs and jobs."""

    database: str
    tables: tuple[Mapping[str, Any], ...] = ()
    jobs: tuple[LakeJob, ...] = ()
    source: str = "scaffold"


def text(value: str) -> Any:
    """A string of the template: ``Fn::Sub`` when it holds ``${...}``."""
    return sub(value) if "${" in value else value


def cfn_value(value: Any) -> Any:
    """``value`` with every placeholder-holding string turned into an ``Fn::Sub`` (recursively)."""
    if isinstance(value, str):
        if not any(p in value for p in _SUBSTITUTIONS):
            return value
        escaped = value.replace("${", "${!")
        for placeholder, variable in _SUBSTITUTIONS.items():
            escaped = escaped.replace(placeholder, variable)
        return sub(escaped)
    if isinstance(value, Mapping):
        return {k: cfn_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [cfn_value(v) for v in value]
    return value


def lake_catalog() -> LakeCatalog:
    """The lake's catalog from ``glue_jobs.catalog``, or the scaffold while it does not exist."""
    if importlib.util.find_spec(_MODULE) is None:
        return LakeCatalog(database="auxeira_lake_${Env}")
    return from_module(importlib.import_module(_MODULE))


def from_module(module: Any, root: Path = _ROOT) -> LakeCatalog:
    """The catalog ``module`` describes (the interface of ``glue_jobs.catalog``), for the repository at ``root``."""
    database = module.glue_database_name(ENV_PLACEHOLDER)
    lake_root = f"s3://{LAKE_PLACEHOLDER}"
    tables = tuple(cfn_value(module.table_input(d)) for d in module.glue_table_definitions(ENV_PLACEHOLDER, lake_root))
    fill = {
        "{lake_root}": lake_root,
        "{env}": ENV_PLACEHOLDER,
        "{database}": database,
        "{pii_key_secret}": SECRET_PLACEHOLDER,
    }
    jobs = tuple(_job(j, fill, root) for j in module.GLUE_JOBS)
    return LakeCatalog(database=database.replace(ENV_PLACEHOLDER, "${Env}"), tables=tables, jobs=jobs, source=_MODULE)


def _job(job: Any, fill: Mapping[str, str], root: Path) -> LakeJob:
    arguments: dict[str, Any] = {}
    for name, value in job.arguments.items():
        for placeholder, stand_in in fill.items():
            value = value.replace(placeholder, stand_in)
        arguments[name] = value
    module = job.script.removesuffix(".py").replace("/", ".")
    modules = python_modules(root, module)
    if modules and "--additional-python-modules" not in arguments:
        arguments["--additional-python-modules"] = ",".join(modules)
    key = job.name.removeprefix("auxeira-").removesuffix("-{env}")
    return LakeJob(
        key=key,
        name=job.name.replace("{env}", "${Env}"),
        source=job.script,
        script=Path(job.script).name,
        schedule=job.schedule,
        arguments={k: cfn_value(v) for k, v in sorted(arguments.items())},
        description=job.description,
        timeout_minutes=job.timeout_minutes,
        workers=job.workers,
        worker_type=job.worker_type,
        max_concurrent_runs=job.max_concurrent_runs,
        glue_version=job.glue_version,
        reads_secret=SECRET_PLACEHOLDER in str(arguments.values()),
        updates_catalog=reaches(root, module, _CATALOG_WRITER),
    )
