"""The Lambda's third-party packages: the locked set, installed as Lambda's platform needs them.

``requirements/lambda.lock`` is the Lambda's whole dependency set, resolved from the
project's core dependencies only (no ``cli``, ``lake``, ``glue`` or ``test`` extra). It is
installed with pip for Lambda's platform, whatever machine builds (CPython 3.11,
``manylinux2014_x86_64``, wheels only, without dependency resolution, since the lock is
complete), into a directory named after the lock's hash, so a second build of the same
lock reuses it.

What pip writes that would make two builds differ, or that Lambda never reads, is left
out of the artifact: ``__pycache__`` (pip is run with ``--no-compile`` anyway), console
scripts in ``bin/`` (their shebang names the building interpreter), and the
``RECORD``/``INSTALLER``/``REQUESTED``/``direct_url.json`` bookkeeping of each
``*.dist-info`` (``METADATA`` stays: ``importlib.metadata`` reads it).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "FORBIDDEN",
    "PLATFORM",
    "dependency_entries",
    "distributions",
    "install_dependencies",
    "pip_command",
]

PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11")
#: Distributions a Lambda artifact must never hold: Spark, DuckDB, the command line, test tools.
FORBIDDEN = frozenset(
    {"pyspark", "duckdb", "typer", "rich", "click", "pytest", "hypothesis", "moto", "pyarrow", "cfn-lint", "checkov"}
)
_BOOKKEEPING = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
_DONE = ".complete"

Runner = Callable[..., Any]


def pip_command(lock: Path, target: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-deps",
        "--only-binary=:all:",
        *PLATFORM,
        "--target",
        str(target),
        "-r",
        str(lock),
    ]


def install_dependencies(lock: Path, cache: Path, run: Runner = subprocess.run) -> Path:
    """The directory holding the lock's packages for Lambda (installed once per lock content)."""
    key = hashlib.sha256(lock.read_bytes() + " ".join(PLATFORM).encode()).hexdigest()[:16]
    target = cache / f"lambda-{key}"
    if (target / _DONE).exists():
        return target
    if target.exists():
        shutil.rmtree(target)  # an interrupted install
    target.mkdir(parents=True)
    run(pip_command(lock, target), check=True)
    (target / _DONE).write_text(lock.name)
    return target


def distributions(directory: Path) -> set[str]:
    """Normalized names of the distributions installed in ``directory``."""
    return {
        p.name.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("_", "-")
        for p in directory.glob("*.dist-info")
    }


def dependency_entries(
    directory: Path, forbidden: Sequence[str] | frozenset[str] = FORBIDDEN
) -> list[tuple[str, Path]]:
    """``(name in the zip, file)`` of every installed file Lambda needs; refuses a forbidden distribution."""
    present = sorted(distributions(directory) & set(forbidden))
    if present:
        raise ValueError(f"the Lambda dependencies hold {', '.join(present)}: not for a Lambda artifact")
    entries = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or _skipped(relative):
            continue
        entries.append((relative.as_posix(), path))
    return entries


def _skipped(relative: Path) -> bool:
    parts = relative.parts
    if parts[0] in ("bin", _DONE) or "__pycache__" in parts or relative.suffix in (".pyc", ".pyo"):
        return True
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in _BOOKKEEPING
