"""A release: the Lambda artifact, the Glue ``--extra-py-files`` zip and the Glue entry scripts.

Steps, in this order:

1. install the locked Lambda dependencies for Lambda's platform (cached per lock);
2. write ``lambda.zip``: the project units the handlers of every mapping import, and
   the dependencies; refuse it over Lambda's 250 MB unzipped limit;
3. write ``glue-extra-py-files.zip``: the project units the ``glue_jobs`` package imports
   (Glue 5.0 brings Spark itself; nothing third-party goes in);
4. copy each Glue job's entry script to ``glue/``;
5. name the release after the hashes of all of it (``releases/<16 hex>``) and write
   ``manifest.json``. The same sources and lock give the same bytes and the same name,
   so the pipeline stack's ``ArtifactsPrefix`` changes exactly when the code does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.cloudformation.lake_catalog import LakeCatalog, lake_catalog
from infra.package.dependencies import Runner, dependency_entries, install_dependencies
from infra.package.sources import closure, source_entries, units_of
from infra.package.zips import Artifact, write_zip
from schemas.resources import REGISTRY, Registry

__all__ = [
    "GLUE_FORBIDDEN_UNITS",
    "LAMBDA_FORBIDDEN_UNITS",
    "LAMBDA_UNZIPPED_LIMIT",
    "Release",
    "build_release",
    "glue_units",
    "lambda_units",
    "project_root",
]

#: Lambda's limit on a function's unzipped code and layers (Lambda quotas).
LAMBDA_UNZIPPED_LIMIT = 262_144_000
LAMBDA_FORBIDDEN_UNITS = frozenset({"auxeira.cli", "auxeira.operations", "infra", "glue_jobs"})
GLUE_FORBIDDEN_UNITS = frozenset({"auxeira.cli", "auxeira.operations", "infra", "producers", "consumers"})


@dataclass(frozen=True)
class Release:
    directory: Path
    prefix: str
    lambda_zip: Artifact
    glue_zip: Artifact
    glue_scripts: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "directory": str(self.directory),
            "lambda": self.lambda_zip.summary(),
            "glue_extra_py_files": self.glue_zip.summary(),
            "glue_scripts": list(self.glue_scripts),
            "lambda_unzipped_limit": LAMBDA_UNZIPPED_LIMIT,
        }


def project_root() -> Path:
    """The checkout this ``infra`` package lives in (packaging reads its sources and its lock)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "requirements" / "lambda.lock").is_file():
        raise FileNotFoundError(f"{root} is not a checkout of the project (no requirements/lambda.lock)")
    return root


def lambda_units(root: Path, registry: Registry = REGISTRY) -> set[str]:
    handlers = [spec.handler.rpartition(".")[0] for spec in registry.mappings]
    units = units_of(closure(root, handlers))
    return _refuse(units, LAMBDA_FORBIDDEN_UNITS, "the Lambda handlers")


def glue_units(root: Path) -> set[str]:
    modules = [
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted((root / "glue_jobs").rglob("*.py"))
        if "__pycache__" not in p.parts
    ]
    return _refuse(units_of(closure(root, modules)), GLUE_FORBIDDEN_UNITS, "the Glue jobs")


def _refuse(units: set[str], forbidden: frozenset[str], who: str) -> set[str]:
    wrong = sorted(units & forbidden)
    if wrong:
        raise ValueError(f"{who} import {', '.join(wrong)}, which no deployed artifact may hold")
    return units


def build_release(
    root: Path,
    out: Path,
    *,
    cache: Path,
    registry: Registry = REGISTRY,
    run: Runner = subprocess.run,
    dependencies: Path | None = None,
    catalog: LakeCatalog | None = None,
) -> Release:
    """Build the release under ``out`` (see the module docstring).

    Args:
        cache: where installed dependencies are kept between builds.
        dependencies: an already installed dependency directory (tests); skips step 1.
        catalog: the lake catalog whose jobs' scripts are copied (``glue_jobs.catalog``'s by default).
    """
    deps = dependencies or install_dependencies(root / "requirements" / "lambda.lock", cache, run)
    lambda_zip = write_zip(
        [*source_entries(root, lambda_units(root, registry)), *dependency_entries(deps)], out / "lambda.zip"
    )
    if lambda_zip.unzipped_bytes > LAMBDA_UNZIPPED_LIMIT:
        raise ValueError(
            f"lambda.zip unzips to {lambda_zip.unzipped_bytes} bytes, over Lambda's {LAMBDA_UNZIPPED_LIMIT}"
        )
    glue_zip = write_zip(source_entries(root, glue_units(root)), out / "glue-extra-py-files.zip")
    scripts = _copy_scripts(root, out / "glue", catalog or lake_catalog())
    digest = hashlib.sha256()
    for part in (lambda_zip.sha256, glue_zip.sha256, *(f"{n}:{_sha(out / 'glue' / n)}" for n in scripts)):
        digest.update(part.encode() + b"\n")
    release = Release(out, f"releases/{digest.hexdigest()[:16]}", lambda_zip, glue_zip, scripts)
    manifest = release.summary() | {"directory": "."}
    for key in ("lambda", "glue_extra_py_files"):
        manifest[key] = manifest[key] | {"path": Path(manifest[key]["path"]).name}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return release


def _copy_scripts(root: Path, target: Path, catalog: LakeCatalog) -> tuple[str, ...]:
    if target.exists():
        shutil.rmtree(target)
    names = []
    for job in catalog.jobs:
        source = root / job.source
        destination = target / job.script
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(source.read_bytes())
        names.append(job.script)
    return tuple(sorted(names))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
