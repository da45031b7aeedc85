"""Imports point one way: contracts <- runtime <- producers | consumers | lake <- infra <- operations <- cli.

The contract is import-linter's (``[tool.importlinter]`` in pyproject.toml); the second
test proves the same check fails on an upward import.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_no_module_imports_from_a_layer_above_it(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def test_the_check_fails_on_an_upward_import(tmp_path, monkeypatch):
    # GIVEN the project's layers over a small tree of packages named like them
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    names = {name.strip() for layer in layers for name in layer.split("|")}
    rename = {name: "fx_" + name.replace(".", "_") for name in names}
    for package in rename.values():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    # WHEN the contracts module imports the command line (an upward import)
    (tmp_path / rename["schemas"] / "envelope.py").write_text(f"import {rename['auxeira.cli']}\n")
    fixture_layers = [" | ".join(rename[n.strip()] for n in layer.split("|")) for layer in layers]
    (tmp_path / "setup.cfg").write_text(
        "[importlinter]\nroot_packages =\n"
        + "".join(f"    {p}\n" for p in rename.values())
        + "\n[importlinter:contract:layers]\nname = fixture layers\ntype = layers\nlayers =\n"
        + "".join(f"    {layer}\n" for layer in fixture_layers)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    # THEN the check reports the contract broken
    assert lint_imports(config_filename=str(tmp_path / "setup.cfg"), no_cache=True) == 1


@pytest.mark.parametrize("heavy", ["pyspark", "duckdb", "typer", "rich", "pytest", "hypothesis", "moto"])
def test_the_lambda_handlers_import_none_of_the_cli_lake_or_test_tools(heavy):
    import subprocess
    import sys

    code = (
        "import sys; import producers.handlers.router, consumers.handlers.cache, consumers.handlers.search, "
        f"consumers.handlers.counters; print({heavy!r} in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
