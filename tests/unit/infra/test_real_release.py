"""The real release, built from this checkout and the lock (needs PyPI: marked integration, ~25 s).

It proves what the unit tests on a fake project cannot: the locked wheels install for
Lambda's platform, a fresh install gives the very same bytes, the artifact fits Lambda's
limit, and every handler imports from the artifact alone and passes its cold-start
validation with the environment the template gives its function.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.cloudformation.assemble import pipeline_template
from infra.cloudformation.deployables import function_id
from infra.package.dependencies import dependency_entries, install_dependencies
from infra.package.release import LAMBDA_UNZIPPED_LIMIT, build_release, project_root
from infra.package.zips import write_zip
from schemas.resources import MAPPINGS
from tests.unit.infra.cfn_values import resolve

pytestmark = pytest.mark.integration

ROOT = project_root()
LOCK = ROOT / "requirements" / "lambda.lock"
_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import importlib
module = importlib.import_module(sys.argv[2])
assert callable(module.handler)
heavy = sorted(m for m in ("pyspark", "duckdb", "typer", "rich", "pytest", "moto", "infra", "auxeira.cli") if m in sys.modules)
print(json.dumps({"file": module.__file__, "heavy": heavy}))
"""


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    return build_release(ROOT, out, cache=ROOT / "build" / "cache")


@pytest.fixture(scope="module")
def task_root(release, tmp_path_factory):
    """The artifact unzipped, as Lambda unpacks it into /var/task."""
    code = tmp_path_factory.mktemp("task")
    zipfile.ZipFile(release.lambda_zip.path).extractall(code)
    return code


def test_a_fresh_install_of_the_lock_gives_the_same_bytes(release, tmp_path):
    # The dependencies alone: the sources may change under a shared checkout between two builds.
    cached = install_dependencies(LOCK, ROOT / "build" / "cache")
    fresh = install_dependencies(LOCK, tmp_path / "fresh-cache")
    assert fresh != cached
    one = write_zip(dependency_entries(cached), tmp_path / "cached.zip")
    two = write_zip(dependency_entries(fresh), tmp_path / "fresh.zip")
    assert one.sha256 == two.sha256 and one.files > 1000


def test_the_artifact_fits_lambdas_limit_and_holds_no_tool(release):
    assert release.lambda_zip.unzipped_bytes < LAMBDA_UNZIPPED_LIMIT
    tops = {n.split("/")[0] for n in zipfile.ZipFile(release.lambda_zip.path).namelist()}
    assert {"schemas", "producers", "consumers", "auxeira", "pydantic", "redis", "opensearchpy"} <= tops
    assert not tops & {"pyspark", "duckdb", "typer", "rich", "pytest", "moto", "infra", "glue_jobs", "bin"}


@pytest.mark.parametrize("spec", MAPPINGS, ids=lambda s: s.consumer)
def test_each_handler_starts_cold_from_the_artifact_with_its_rendered_environment(task_root, spec):
    # GIVEN the artifact unzipped as Lambda does, and the function's environment as deployed
    code = task_root
    variables = resolve(pipeline_template()["Resources"][function_id(spec)]["Properties"]["Environment"]["Variables"])
    env = {**variables, "AWS_LAMBDA_FUNCTION_NAME": f"auxeira-{spec.consumer}-dev", "AWS_REGION": "eu-west-2"}
    # WHEN an interpreter with nothing but the standard library and the artifact imports the handler
    module = spec.handler.rpartition(".")[0]
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE, str(code), module],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # THEN it imports from the artifact, validates its settings and pulls in no tool
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert Path(probe["file"]).is_relative_to(code) and probe["heavy"] == []
