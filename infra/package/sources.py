"""Which of the project's own packages an artifact holds: those its entry points import.

Starting from the entry modules (the handlers of every mapping spec for Lambda, the
``glue_jobs`` package for Glue), every ``import`` statement of every reached module is
followed, at function level too, as far as it stays inside the project. An artifact
then holds each reached *unit* whole: a unit is a layer of the import contract
(``schemas``, ``producers``, ``consumers``, ``glue_jobs``, ``auxeira.runtime``...), so a
module loaded by a path the scan does not see is still there. The units a deployable
must never hold (the command line, the operations, infra) are refused: reaching one is
a layering bug, not a packaging choice.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["FIRST_PARTY", "UNITS", "closure", "source_entries", "units_of"]

#: Top-level packages of the project.
FIRST_PARTY = ("schemas", "producers", "consumers", "glue_jobs", "infra", "auxeira")
#: The layers of ``[tool.importlinter]`` (longest first, so ``auxeira.runtime`` wins over ``auxeira``).
UNITS = (
    "auxeira.operations",
    "auxeira.runtime",
    "auxeira.cli",
    "consumers",
    "glue_jobs",
    "producers",
    "schemas",
    "infra",
)
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def _module_path(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            yield name
            yield from (f"{name}.{alias.name}" for alias in node.names)


def closure(root: Path, entries: Iterable[str]) -> set[str]:
    """Every first-party module reachable from ``entries`` (dotted names), the entries included."""
    seen: set[str] = set()
    pending = list(entries)
    while pending:
        module = pending.pop()
        if module in seen or module.split(".")[0] not in FIRST_PARTY:
            continue
        path = _module_path(root, module)
        if path is None:
            continue  # ``from package import name`` where name is not a module
        seen.add(module)
        parts = module.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        pending += list(_imports(path, module))
    return seen


def units_of(modules: Iterable[str]) -> set[str]:
    """The units (layers) the modules belong to; a first-party module outside every unit is its top package."""
    units: set[str] = set()
    for module in modules:
        unit = next((u for u in UNITS if module == u or module.startswith(f"{u}.")), None)
        if unit is None and "." in module:
            raise ValueError(f"{module} belongs to no layer of the import contract")
        if unit is not None:
            units.add(unit)
    return units


def source_entries(root: Path, units: Iterable[str]) -> list[tuple[str, Path]]:
    """``(name in the zip, file)`` of every file of the units, with the ``__init__.py`` of their parents."""
    entries: dict[str, Path] = {}
    for unit in sorted(units):
        parts = unit.split(".")
        for depth in range(1, len(parts)):
            init = root.joinpath(*parts[:depth], "__init__.py")
            if init.is_file():
                entries[init.relative_to(root).as_posix()] = init
        base = root.joinpath(*parts)
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and not _SKIPPED_DIRS & set(relative.parts) and not path.name.endswith(_SKIPPED_SUFFIXES):
                entries[relative.as_posix()] = path
    return sorted(entries.items())
