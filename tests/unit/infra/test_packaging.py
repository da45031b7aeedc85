"""Packaging on a small fake project: reproducible bytes, what goes in and what never does, sizes."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import pytest

from infra.cloudformation.lake_catalog import LakeCatalog, LakeJob
from infra.package import release as release_module
from infra.package.dependencies import PLATFORM, install_dependencies
from infra.package.release import build_release, glue_units, lambda_units
from infra.package.sources import closure
from schemas.resources import REGISTRY, MappingSpec

ROOT = Path(__file__).resolve().parents[3]
FILES = {
    "auxeira/__init__.py": "",
    "auxeira/runtime/__init__.py": "",
    "auxeira/runtime/bus.py": "from schemas import envelope\n",
    "auxeira/cli/__init__.py": "",
    "auxeira/cli/main.py": "import typer\n",
    "schemas/__init__.py": "",
    "schemas/envelope.py": "X = 1\n",
    "consumers/__init__.py": "",
    "consumers/handlers/__init__.py": "",
    "consumers/handlers/cache.py": (
        "from auxeira.runtime import bus\n\ndef handler(event, context):\n    from ..sinks import redis\n    return redis\n"
    ),
    "consumers/sinks/__init__.py": "",
    "consumers/sinks/redis.py": "import hiredis\n",
    "consumers/__pycache__/stale.cpython-311.pyc": "junk",
    "producers/__init__.py": "",
    "producers/repository.py": "",
    "glue_jobs/__init__.py": "",
    "glue_jobs/raw_to_curated.py": "from schemas.envelope import X\n",
    "infra/__init__.py": "",
    "requirements/lambda.lock": "hiredis==3.5.0\n",
}
DEPENDENCIES = {
    "hiredis/__init__.py": "",
    "hiredis/hiredis.cpython-311-x86_64-linux-gnu.so": "\x7fELF",
    "hiredis/__pycache__/__init__.cpython-311.pyc": "compiled on this machine",
    "hiredis-3.5.0.dist-info/METADATA": "Name: hiredis\nVersion: 3.5.0\n",
    "hiredis-3.5.0.dist-info/RECORD": "hiredis/__init__.py,sha256=...,0\n../../bin/x,sha256=/home/me/python\n",
    "hiredis-3.5.0.dist-info/INSTALLER": "pip\n",
    "hiredis-3.5.0.dist-info/direct_url.json": "{}",
    "bin/hiredis-tool": "#!/home/me/.venv/bin/python\n",
}
REGISTRY_OF_ONE = dataclasses.replace(
    REGISTRY, mappings=(MappingSpec("cache", "consumers.handlers.cache.handler", "kinesis", batch_size=10),)
)


def _tree(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    root = _tree(tmp_path / "project", FILES)
    (root / "glue_jobs" / "raw_to_curated.py").chmod(0o755)
    return root, _tree(tmp_path / "deps", DEPENDENCIES)


CATALOG = LakeCatalog(
    database="auxeira_lake_${Env}",
    jobs=(
        LakeJob(
            key="raw-to-curated",
            name="auxeira-raw-to-curated-${Env}",
            source="glue_jobs/raw_to_curated.py",
            script="raw_to_curated.py",
            schedule="cron(10 * * * ? *)",
        ),
    ),
)


def _build(project: tuple[Path, Path], out: Path) -> release_module.Release:
    root, deps = project
    return build_release(
        root, out, cache=out.parent / "cache", registry=REGISTRY_OF_ONE, dependencies=deps, catalog=CATALOG
    )


def test_the_same_inputs_give_the_same_bytes_whatever_the_time_and_the_file_dates(project, tmp_path):
    # GIVEN one build
    first = _build(project, tmp_path / "one")
    # WHEN every input file is touched to another date and the release is built again elsewhere
    for path in (p for base in project for p in base.rglob("*") if p.is_file()):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    second = _build(project, tmp_path / "two")
    # THEN both artifacts, and so the release's name, are byte for byte the same
    assert (first.lambda_zip.sha256, first.glue_zip.sha256) == (second.lambda_zip.sha256, second.glue_zip.sha256)
    assert (tmp_path / "one" / "lambda.zip").read_bytes() == (tmp_path / "two" / "lambda.zip").read_bytes()
    assert first.prefix == second.prefix and first.prefix.startswith("releases/")


@pytest.mark.parametrize("changed", ["schemas/envelope.py", "glue_jobs/raw_to_curated.py"])
def test_a_changed_source_or_script_changes_the_release(project, tmp_path, changed):
    first = _build(project, tmp_path / "one")
    (project[0] / changed).write_text("X = 2\n")
    assert _build(project, tmp_path / "two").prefix != first.prefix


def test_each_jobs_entry_script_is_in_the_release(project, tmp_path):
    built = _build(project, tmp_path / "out")
    assert built.glue_scripts == ("raw_to_curated.py",)
    assert (tmp_path / "out" / "glue" / "raw_to_curated.py").read_bytes() == (
        project[0] / "glue_jobs" / "raw_to_curated.py"
    ).read_bytes()
    assert (tmp_path / "out" / "manifest.json").exists()


def test_the_lambda_holds_what_the_handlers_import_and_the_locked_dependencies_only(project, tmp_path):
    built = _build(project, tmp_path / "out")
    names = zipfile.ZipFile(built.lambda_zip.path).namelist()
    assert names == sorted(names)
    # the handler, what it imports (at function level too) and their packages' __init__ files
    for expected in (
        "auxeira/__init__.py",
        "auxeira/runtime/bus.py",
        "schemas/envelope.py",
        "consumers/handlers/cache.py",
        "consumers/sinks/redis.py",
        "hiredis/hiredis.cpython-311-x86_64-linux-gnu.so",
        "hiredis-3.5.0.dist-info/METADATA",
    ):
        assert expected in names
    # never the command line, the Glue jobs, infra, caches, console scripts or pip's bookkeeping
    for prefix in ("auxeira/cli/", "glue_jobs/", "infra/", "producers/", "bin/"):
        assert not [n for n in names if n.startswith(prefix)], prefix
    assert not [n for n in names if "__pycache__" in n or n.endswith(("RECORD", "INSTALLER", "direct_url.json"))]


def test_entries_carry_no_date_or_owner_of_the_build_machine(project, tmp_path):
    archive = zipfile.ZipFile(_build(project, tmp_path / "out").glue_zip.path)
    infos = {i.filename: i for i in archive.infolist()}
    assert {i.date_time for i in infos.values()} == {(1980, 1, 1, 0, 0, 0)}
    assert infos["glue_jobs/raw_to_curated.py"].external_attr >> 16 == 0o100755
    assert infos["schemas/envelope.py"].external_attr >> 16 == 0o100644
    assert sorted(infos) == [
        "glue_jobs/__init__.py",
        "glue_jobs/raw_to_curated.py",
        "schemas/__init__.py",
        "schemas/envelope.py",
    ]


def test_sizes_count_every_byte_zipped_and_unzipped(project, tmp_path):
    built = _build(project, tmp_path / "out")
    archive = zipfile.ZipFile(built.lambda_zip.path)
    assert built.lambda_zip.unzipped_bytes == sum(i.file_size for i in archive.infolist())
    assert built.lambda_zip.zipped_bytes == built.lambda_zip.path.stat().st_size
    assert built.lambda_zip.files == len(archive.infolist())
    assert built.summary()["lambda"]["unzipped_bytes"] == built.lambda_zip.unzipped_bytes


def test_an_artifact_over_lambdas_unzipped_limit_is_refused(project, tmp_path, monkeypatch):
    monkeypatch.setattr(release_module, "LAMBDA_UNZIPPED_LIMIT", 10)
    with pytest.raises(ValueError, match="over Lambda's 10"):
        _build(project, tmp_path / "out")


def test_a_forbidden_distribution_in_the_dependencies_is_refused(project, tmp_path):
    _tree(project[1], {"pytest-8.3.0.dist-info/METADATA": "Name: pytest\n"})
    with pytest.raises(ValueError, match="pytest"):
        _build(project, tmp_path / "out")


def test_a_handler_reaching_the_command_line_cannot_be_packaged(project, tmp_path):
    (project[0] / "consumers" / "sinks" / "redis.py").write_text("from auxeira.cli import main\n")
    with pytest.raises(ValueError, match=r"auxeira\.cli"):
        _build(project, tmp_path / "out")


def test_dependencies_are_installed_once_per_lock_for_lambdas_platform(tmp_path):
    lock = _tree(tmp_path, {"lambda.lock": "hiredis==3.5.0\n"}) / "lambda.lock"
    calls: list[list[str]] = []

    def pip(command, check):
        calls.append(command)
        Path(command[command.index("--target") + 1], "hiredis").mkdir()

    first = install_dependencies(lock, tmp_path / "cache", run=pip)
    assert install_dependencies(lock, tmp_path / "cache", run=pip) == first
    assert len(calls) == 1
    [command] = calls
    assert set(PLATFORM) <= set(command) and "--only-binary=:all:" in command and "--no-deps" in command
    assert command[-2:] == ["-r", str(lock)]
    lock.write_text("hiredis==3.5.1\n")
    assert install_dependencies(lock, tmp_path / "cache", run=pip) != first


def test_an_interrupted_install_is_started_again(tmp_path):
    lock = _tree(tmp_path, {"lambda.lock": "x==1\n"}) / "lambda.lock"

    def crash(command, check):
        Path(command[command.index("--target") + 1], "half").write_text("")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        install_dependencies(lock, tmp_path / "cache", run=crash)
    target = install_dependencies(lock, tmp_path / "cache", run=lambda command, check: None)
    assert not (target / "half").exists()


def test_the_real_handlers_need_the_runtime_layers_and_nothing_above_them():
    assert lambda_units(ROOT) == {"schemas", "auxeira.runtime", "producers", "consumers"}
    assert glue_units(ROOT) <= {"glue_jobs", "schemas", "auxeira.runtime"}
    assert "glue_jobs" in glue_units(ROOT)


def test_relative_and_function_level_imports_are_followed(project):
    root, _ = project
    assert closure(root, ["consumers.handlers.cache"]) >= {
        "consumers.sinks.redis",
        "auxeira.runtime.bus",
        "schemas.envelope",
    }
