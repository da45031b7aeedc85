"""What a Glue job imports beyond Glue 5.0 itself: the pins of ``--additional-python-modules``.

The ``--extra-py-files`` zip holds the project's own packages; the third-party packages
they import must be installed by Glue at the job's start. Counted are the imports that
run when the job's modules are imported: those at module level of every module the
job's script reaches, and every import of the ``glue_jobs`` package itself (its
functions run in the job). A function-level import in a shared module (the runtime's
Redis or OpenSearch clients) runs only if called, and Glue never calls it.

Packages Glue 5.0 brings itself (:data:`GLUE_PROVIDED`, AWS Glue "Python modules already
provided") are not pinned: replacing them can break Glue's own libraries. The others are
pinned to the versions of ``requirements/lambda.lock``, the very versions the Lambda
functions run the same contracts with.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

from infra.package.sources import FIRST_PARTY, closure

__all__ = ["GLUE_PROVIDED", "locked_versions", "python_modules", "reaches"]

GLUE_PROVIDED = frozenset(
    {"pyspark", "py4j", "awsglue", "boto3", "botocore", "s3transfer", "jmespath", "pyarrow", "numpy", "pandas"}
)
_OWN = "glue_jobs"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)")


def locked_versions(lock: Path) -> dict[str, str]:
    """Normalized distribution name -> pinned version, of a ``uv pip compile`` lock."""
    pins = {}
    for line in lock.read_text().splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[_normalized(match.group(1))] = match.group(2)
    return pins


def reaches(root: Path, module: str, target: str) -> bool:
    """Whether importing ``module`` can import ``target`` (both first-party)."""
    return target in _closure(root, module)


def python_modules(root: Path, module: str) -> list[str]:
    """``name==version`` of each package the job's modules import that Glue does not provide, sorted."""
    names = sorted({n for m in _closure(root, module) for n in _eager_imports(root, m)} - GLUE_PROVIDED)
    pins = locked_versions(root / "requirements" / "lambda.lock")
    missing = [n for n in names if _normalized(n) not in pins]
    if missing:
        raise ValueError(
            f"{module} imports {', '.join(missing)}, which neither Glue 5.0 nor requirements/lambda.lock provides"
        )
    return [f"{_normalized(n)}=={pins[_normalized(n)]}" for n in names]


@cache
def _closure(root: Path, module: str) -> frozenset[str]:
    return frozenset(closure(root, [module]))


def _eager_imports(root: Path, module: str) -> set[str]:
    base = root.joinpath(*module.split("."))
    path = base / "__init__.py" if (base / "__init__.py").is_file() else base.with_suffix(".py")
    tree = ast.parse(path.read_text(), str(path))
    if module == _OWN or module.startswith(f"{_OWN}."):
        nodes = list(ast.walk(tree))
    else:  # module level, including inside a module-level if/try
        nodes = [
            n
            for top in tree.body
            if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            for n in ast.walk(top)
        ]
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in FIRST_PARTY and n not in sys.stdlib_module_names and n != "__future__"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
