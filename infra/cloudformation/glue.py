"""The lake's Glue catalog: database, tables, security configuration, the pii key, and the jobs.

What the tables and jobs are is the lake's own knowledge, in ``glue_jobs.catalog`` (pure:
names, columns, partition projection, scripts, arguments, schedules); this module renders
it, as :mod:`infra.cloudformation.lake_catalog` reads it. Every table is the very
``TableInput`` the lake's own ``table_input`` gives boto3, so what CloudFormation creates
and what the jobs and their tests create agree to the byte.

The security configuration encrypts what Glue writes to S3 and to CloudWatch Logs
(SSE-KMS) and the job bookmarks (CSE-KMS), with the pipeline's key; every job runs
under it (:mod:`infra.cloudformation.lake_jobs`). The pii tokenization key the jobs
read (``--pii-key-secret``) is a Secrets Manager secret generated once and retained:
replacing it would change every token already in the lake.
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.buckets import LAKE_BUCKET
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.lake_alarms import job_failure_alarm
from infra.cloudformation.lake_catalog import LakeCatalog, lake_catalog, text
from infra.cloudformation.lake_jobs import PII_KEY_SECRET, SECURITY_CONFIGURATION, lake_job
from infra.cloudformation.model import Fragment, logical_id, ref, sub

__all__ = ["DATABASE", "glue"]

DATABASE = "GlueDatabase"


def glue(catalog: LakeCatalog | None = None) -> Fragment:
    catalog = catalog or lake_catalog()
    fragment = Fragment()
    fragment.resource(
        DATABASE,
        "AWS::Glue::Database",
        {
            "CatalogId": ref("AWS::AccountId"),
            "DatabaseInput": {
                "Name": text(catalog.database),
                "Description": "auxeira lake: curated events and current state (partition projection)",
                "LocationUri": sub(f"s3://${{{LAKE_BUCKET}}}/"),
            },
        },
    )
    fragment.resource(SECURITY_CONFIGURATION, "AWS::Glue::SecurityConfiguration", _security_configuration())
    for table in catalog.tables:
        fragment.resource(
            logical_id(str(table["Name"]), "GlueTable"),
            "AWS::Glue::Table",
            {"CatalogId": ref("AWS::AccountId"), "DatabaseName": ref(DATABASE), "TableInput": table},
        )
    if any(job.reads_secret for job in catalog.jobs):
        fragment.resource(
            PII_KEY_SECRET,
            "AWS::SecretsManager::Secret",
            _pii_key(),
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
    for job in catalog.jobs:
        fragment.merge(lake_job(job, catalog.database))
    if catalog.jobs:
        fragment.merge(job_failure_alarm(catalog.jobs))
    fragment.output("GlueDatabase", ref(DATABASE), "The lake's Glue database (Athena: the workgroup's catalog)")
    return fragment


def _security_configuration() -> dict[str, Any]:
    return {
        "Name": sub("auxeira-${Env}"),
        "EncryptionConfiguration": {
            "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": KEY_ARN}],
            "CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": KEY_ARN},
            "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": KEY_ARN},
        },
    }


def _pii_key() -> dict[str, Any]:
    return {
        "Name": sub("auxeira/${Env}/lake-pii-key"),
        "Description": "Key of the lake's pii tokenization (glue_jobs.pii): never rotate it in place",
        "KmsKeyId": KEY_ARN,
        "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
    }
