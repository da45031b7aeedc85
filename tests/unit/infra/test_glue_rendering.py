"""The Glue side is rendered from ``glue_jobs.catalog``: one template for every environment, nothing hand-copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue_jobs import catalog as lake
from infra.cloudformation.assemble import pipeline_template
from infra.cloudformation.glue import glue
from infra.cloudformation.lake_catalog import LAKE_PLACEHOLDER, LakeCatalog, cfn_value
from infra.package.glue_modules import locked_versions, python_modules
from tests.unit.infra.cfn_values import SAMPLE, resolve, resources_of

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = pipeline_template()
LAKE_ROOT = f"s3://{SAMPLE['LakeBucket']}"
DEPLOYED = SAMPLE | {
    "ArtifactsBucket": "auxeira-artifacts-123456789012-eu-west-2",
    "ArtifactsPrefix": "releases/0123456789abcdef",
    "PiiKeySecret": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:auxeira/dev/lake-pii-key-AbCdEf",
}


def _job(definition: lake.GlueJobDef) -> dict:
    [resource] = [
        r
        for r in resources_of(TEMPLATE, "AWS::Glue::Job").values()
        if resolve(r["Properties"]["Name"]) == definition.name.format(env="dev")
    ]
    return resource["Properties"]


def test_placeholders_become_parameters_and_athenas_own_stay_literal():
    value = cfn_value(f"s3://{LAKE_PLACEHOLDER}/curated/startup/dt=${{dt}}/")
    assert value == {"Fn::Sub": "s3://${LakeBucket}/curated/startup/dt=${!dt}/"}
    assert resolve(value) == f"{LAKE_ROOT}/curated/startup/dt=${{dt}}/"
    assert cfn_value("dt=${dt}") == "dt=${dt}"  # nothing to substitute, nothing to escape


def test_the_database_is_the_catalogs_for_the_environment():
    [database] = resources_of(TEMPLATE, "AWS::Glue::Database").values()
    assert resolve(database["Properties"]["DatabaseInput"]["Name"]) == lake.glue_database_name("dev")


def test_every_table_is_exactly_the_table_input_the_lake_gives_boto3():
    # GIVEN the lake's own definitions for environment dev and the deployed lake bucket
    expected = {d.name: lake.table_input(d) for d in lake.glue_table_definitions("dev", LAKE_ROOT)}
    # WHEN the rendered tables are resolved as CloudFormation would
    rendered = {
        r["Properties"]["TableInput"]["Name"]: resolve(r["Properties"]["TableInput"])
        for r in resources_of(TEMPLATE, "AWS::Glue::Table").values()
    }
    # THEN they are the same tables, column for column, projection template included
    assert rendered == expected
    assert any("dt=${dt}" in t["Parameters"].get("storage.location.template", "") for t in rendered.values())


@pytest.mark.parametrize("definition", lake.GLUE_JOBS, ids=lambda j: j.name)
def test_each_job_runs_the_releases_script_with_the_catalogs_arguments_under_the_security_configuration(definition):
    job = _job(definition)
    arguments = {k: resolve(v, DEPLOYED) for k, v in job["DefaultArguments"].items()}
    filled = {
        "{lake_root}": LAKE_ROOT,
        "{env}": "dev",
        "{database}": lake.glue_database_name("dev"),
        "{pii_key_secret}": DEPLOYED["PiiKeySecret"],
    }
    for name, value in definition.arguments.items():
        for placeholder, real in filled.items():
            value = value.replace(placeholder, real)
        assert arguments[name] == value, name
    assert (
        arguments["--extra-py-files"]
        == f"s3://{DEPLOYED['ArtifactsBucket']}/releases/0123456789abcdef/glue-extra-py-files.zip"
    )
    assert resolve(job["Command"]["ScriptLocation"], DEPLOYED).endswith(f"/glue/{Path(definition.script).name}")
    assert (job["GlueVersion"], job["Timeout"], job["ExecutionProperty"]) == (
        definition.glue_version,
        definition.timeout_minutes,
        {"MaxConcurrentRuns": definition.max_concurrent_runs},
    )
    assert job["SecurityConfiguration"] == {"Ref": "GlueSecurityConfiguration"}
    workers = TEMPLATE["Parameters"][job["NumberOfWorkers"]["Ref"]]
    assert workers["Default"] == definition.workers
    assert TEMPLATE["Parameters"][job["WorkerType"]["Ref"]]["Default"] == definition.worker_type


@pytest.mark.parametrize("definition", lake.GLUE_JOBS, ids=lambda j: j.name)
def test_each_job_has_its_schedule_and_installs_what_it_imports_at_the_locked_versions(definition):
    job = _job(definition)
    triggers = [t["Properties"] for t in resources_of(TEMPLATE, "AWS::Glue::Trigger").values()]
    [trigger] = [t for t in triggers if t["Actions"] == [{"JobName": {"Ref": _job_id_of(definition)}}]]
    assert (trigger["Type"], trigger["Schedule"], trigger["StartOnCreation"]) == (
        "SCHEDULED",
        definition.schedule,
        True,
    )
    pins = locked_versions(ROOT / "requirements" / "lambda.lock")
    modules = job["DefaultArguments"]["--additional-python-modules"].split(",")
    assert "pydantic==" + pins["pydantic"] in modules  # the contracts the jobs read are pydantic models
    assert not [m for m in modules if m.split("==")[0] in ("pyspark", "boto3", "pyarrow")]  # Glue's own


def _job_id_of(definition: lake.GlueJobDef) -> str:
    return next(
        name
        for name, r in resources_of(TEMPLATE, "AWS::Glue::Job").items()
        if resolve(r["Properties"]["Name"]) == definition.name.format(env="dev")
    )


def test_only_the_job_that_flips_current_tables_may_update_the_catalog_and_only_pii_jobs_read_the_key():
    for definition in lake.GLUE_JOBS:
        role = _job(definition)["Role"]["Fn::GetAtt"][0]
        statements = {
            s["Sid"] for s in TEMPLATE["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        }
        assert ("FlipCurrentTables" in statements) == (definition.script == "glue_jobs/current_state.py")
        assert ("ReadPiiKey" in statements) == ("--pii-key-secret" in definition.arguments)
    secret = TEMPLATE["Resources"]["PiiKeySecret"]
    assert (secret["DeletionPolicy"], secret["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_a_failed_job_notifies_the_alarm_topic_and_has_an_alarm():
    rule = TEMPLATE["Resources"]["GlueJobFailureRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["state"] == ["FAILED", "ERROR", "TIMEOUT"]
    assert sorted(j["Ref"] for j in rule["EventPattern"]["detail"]["jobName"]) == sorted(
        resources_of(TEMPLATE, "AWS::Glue::Job")
    )
    assert rule["Targets"] == [{"Id": "alarm-topic", "Arn": {"Ref": "AlarmTopic"}}]
    alarm = TEMPLATE["Resources"]["GlueJobFailureAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Events", "TriggeredRules")


def test_without_a_catalog_module_the_scaffold_is_the_database_and_the_security_configuration():
    fragment = glue(LakeCatalog(database="auxeira_lake_${Env}"))
    assert sorted(r["Type"] for r in fragment.resources.values()) == [
        "AWS::Glue::Database",
        "AWS::Glue::SecurityConfiguration",
    ]


def test_a_job_importing_a_package_nobody_locks_cannot_be_rendered(tmp_path):
    # GIVEN a job module that imports a package neither Glue nor the lock provides
    (tmp_path / "glue_jobs").mkdir()
    (tmp_path / "glue_jobs" / "__init__.py").write_text("")
    (tmp_path / "glue_jobs" / "job.py").write_text("import polars\nimport pyspark\n\ndef main():\n    import orjson\n")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "__init__.py").write_text("def lazy():\n    import redis\n")
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "lambda.lock").write_text("orjson==3.13.0\n    # via auxeira-pipeline\nredis==8.1.0\n")
    # WHEN its pins are computed THEN rendering refuses, naming the package
    with pytest.raises(ValueError, match="polars"):
        python_modules(tmp_path, "glue_jobs.job")
    # and without it, its own function-level import counts; a shared module's lazy import does not
    (tmp_path / "glue_jobs" / "job.py").write_text("import pyspark\nimport schemas\n\ndef main():\n    import orjson\n")
    assert python_modules(tmp_path, "glue_jobs.job") == ["orjson==3.13.0"]
