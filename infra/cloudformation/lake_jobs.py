"""One Glue job of the lake: its role, the job, its trigger and its size parameters.

Every job runs its Glue version (5.0) with the release's entry script and
``--extra-py-files`` zip (both built by ``auxeira infra package``), under the security
configuration, one run at a time, and is started by a scheduled trigger. Its role may:

* read the lake's raw, curated and current prefixes, and write (put, delete) the curated
  and current tables and the jobs' own state (``_state/``), nothing else of the bucket;
* read the release (its script and zip) and nothing else of the artifacts bucket;
* read the catalog's database and tables, and update its tables when its script flips a
  current table to a new snapshot;
* read the pii key secret when its arguments name it;
* write its logs (Glue's ``/aws-glue/`` groups, encrypted by the security configuration)
  and its metrics (namespace ``Glue`` only); use the pipeline key.
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.buckets import LAKE_BUCKET, bucket_arn, objects_arn
from infra.cloudformation.iam import assume_role_policy, statement
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.lake_catalog import LakeJob
from infra.cloudformation.model import Fragment, account_arn, get_att, ref, sub
from infra.cloudformation.parameters import number
from schemas.resources import LAKE

__all__ = ["PII_KEY_SECRET", "SECURITY_CONFIGURATION", "job_id", "lake_job"]

SECURITY_CONFIGURATION = "GlueSecurityConfiguration"
PII_KEY_SECRET = "PiiKeySecret"
_WORKER_TYPES = ["G.1X", "G.2X", "G.4X", "G.8X"]


def job_id(job: LakeJob) -> str:
    return f"{job.logical}GlueJob"


def lake_job(job: LakeJob, database: str) -> Fragment:
    fragment = Fragment()
    workers, worker_type, role = f"{job.logical}GlueWorkers", f"{job.logical}GlueWorkerType", f"{job.logical}GlueRole"
    fragment.parameters[workers] = number(f"Workers of each {job.key} run.", job.workers, 2, 100)
    fragment.parameters[worker_type] = {
        "Type": "String",
        "Description": f"Worker type of the {job.key} job.",
        "Default": job.worker_type,
        "AllowedValues": _WORKER_TYPES,
    }
    fragment.resource(
        role,
        "AWS::IAM::Role",
        {
            "RoleName": sub(f"auxeira-glue-{job.key}-${{Env}}-${{AWS::Region}}"),
            "Description": sub(f"auxeira ${{Env}}: the {job.key} Glue job"),
            "AssumeRolePolicyDocument": assume_role_policy("glue.amazonaws.com"),
            "Policies": [{"PolicyName": f"{job.key}-least-privilege", "PolicyDocument": _policy(job, database)}],
        },
    )
    arguments = {
        "--extra-py-files": sub("s3://${ArtifactsBucket}/${ArtifactsPrefix}/glue-extra-py-files.zip"),
        "--enable-observability-metrics": "true",
        "--TempDir": sub(f"s3://${{{LAKE_BUCKET}}}/{LAKE.state}/glue-temp/"),
        **job.arguments,
    }
    fragment.resource(
        job_id(job),
        "AWS::Glue::Job",
        {
            "Name": sub(job.name) if "${" in job.name else job.name,
            "Description": job.description,
            "Role": get_att(role, "Arn"),
            "GlueVersion": job.glue_version,
            "Command": {
                "Name": "glueetl",
                "PythonVersion": "3",
                "ScriptLocation": sub(f"s3://${{ArtifactsBucket}}/${{ArtifactsPrefix}}/glue/{job.script}"),
            },
            "DefaultArguments": dict(sorted(arguments.items())),
            "WorkerType": ref(worker_type),
            "NumberOfWorkers": ref(workers),
            "Timeout": job.timeout_minutes,
            "MaxRetries": 0,
            "ExecutionProperty": {"MaxConcurrentRuns": job.max_concurrent_runs},
            "SecurityConfiguration": ref(SECURITY_CONFIGURATION),
        },
    )
    fragment.resource(
        f"{job.logical}GlueTrigger",
        "AWS::Glue::Trigger",
        {
            "Name": sub(f"auxeira-{job.key}-${{Env}}"),
            "Description": f"{job.key}: {job.schedule} (UTC)",
            "Type": "SCHEDULED",
            "Schedule": job.schedule,
            "StartOnCreation": True,
            "Actions": [{"JobName": ref(job_id(job))}],
        },
    )
    return fragment


def _policy(job: LakeJob, database: str) -> dict[str, Any]:
    glue = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
    tables = sub(f"{glue}:table/{database}/*")
    statements = [
        statement("ReadLake", ["s3:GetObject"], [objects_arn(LAKE_BUCKET, p) for p in job.reads]),
        statement(
            "WriteLake",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [objects_arn(LAKE_BUCKET, p) for p in job.writes],
        ),
        statement("ListLake", ["s3:ListBucket"], bucket_arn(LAKE_BUCKET)),
        statement(
            "ReadRelease", ["s3:GetObject"], sub("arn:${AWS::Partition}:s3:::${ArtifactsBucket}/${ArtifactsPrefix}/*")
        ),
        statement(
            "ReadCatalog",
            ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"],
            [sub(f"{glue}:catalog"), sub(f"{glue}:database/{database}"), tables],
        ),
        statement(
            "OwnLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
            account_arn("logs", "log-group:/aws-glue/*"),
        ),
        statement("PipelineKey", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], KEY_ARN),
        statement(
            "JobMetrics",
            ["cloudwatch:PutMetricData"],
            "*",
            Condition={"StringEquals": {"cloudwatch:namespace": "Glue"}},
        ),
    ]
    if job.updates_catalog:
        statements.append(
            statement(
                "FlipCurrentTables",
                ["glue:UpdateTable"],
                [sub(f"{glue}:catalog"), sub(f"{glue}:database/{database}"), tables],
            )
        )
    if job.reads_secret:
        statements.append(statement("ReadPiiKey", ["secretsmanager:GetSecretValue"], ref(PII_KEY_SECRET)))
    return {"Version": "2012-10-17", "Statement": statements}
