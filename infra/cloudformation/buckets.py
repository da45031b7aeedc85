"""The pipeline's buckets: the lake, the failure records, Athena's results and the access logs.

Why four and not one per prefix of :data:`schemas.resources.LAKE`
--------------------------------------------------------------------
* **lake**: raw events, dead letters, redriven records, the curated and current tables
  and the jobs' state, as prefixes of one root (``AUXEIRA_LAKE_ROOT = s3://<lake>``),
  exactly the layout of the local ``lake/`` directory. One bucket keeps every tool's
  paths identical here and deployed.
* **failures**: the event source mappings' on-failure destination. Lambda writes its
  records at the *root* of the destination bucket (``aws/lambda/<mapping>/<shard>/...``;
  a destination is a bucket ARN, with no prefix), and the router's records carry raw
  stream images, secrets included (``auxeira.runtime.failure_records``): they get a
  bucket of their own, which no query engine reads, with its own expiry.
* **athena**: query results; Athena's workgroup writes there, encrypted, and they
  expire after a month.
* **access logs**: S3 server access logs of the three above. Log delivery supports only
  SSE-S3 on its target bucket, so this one bucket is not KMS-encrypted.

Every bucket: public access blocked, ACLs disabled, versioning, a TLS-only policy,
incomplete multipart uploads aborted after 7 days, and noncurrent versions expired after
``NoncurrentVersionDays`` (14 by default, at most 25): an erased object's old versions
are gone within the month an erasure request allows (UK GDPR art. 12(3)), lifecycle's
own lag of a day or two included, while two weeks remain to undo an accidental delete.
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.model import Fragment, Suppression, get_att, ref, sub, suppress
from infra.cloudformation.parameters import number
from schemas.resources import LAKE

__all__ = [
    "ACCESS_LOGS",
    "ATHENA_RESULTS",
    "FAILURES",
    "FAILURE_RECORDS_FILTER",
    "FAILURE_RECORDS_PREFIX",
    "LAKE_BUCKET",
    "bucket_arn",
    "buckets",
    "objects_arn",
    "secure_bucket",
]

LAKE_BUCKET = "LakeBucket"
FAILURES = "FailuresBucket"
ATHENA_RESULTS = "AthenaResultsBucket"
ACCESS_LOGS = "AccessLogsBucket"
#: Where Lambda writes on-failure records in its destination bucket.
FAILURE_RECORDS_PREFIX = "aws/lambda/"
#: The request-metrics filter counting them (its PutRequests metric has an alarm).
FAILURE_RECORDS_FILTER = "failure-records"
_NONCURRENT = "NoncurrentVersionDays"
_FAILURE_DAYS = "FailureRecordDays"
_ACCESS_LOG_DAYS = "AccessLogDays"


def bucket_arn(bucket: str) -> dict[str, Any]:
    return get_att(bucket, "Arn")


def objects_arn(bucket: str, prefix: str = "") -> dict[str, Any]:
    """ARN of the objects under ``prefix`` (``""``: every object)."""
    return sub(f"${{{bucket}.Arn}}/{prefix}*")


def buckets() -> Fragment:
    fragment = Fragment()
    fragment.parameters[_NONCURRENT] = number(
        "Days an overwritten or deleted object's old version is kept (an erasure is complete after this).", 14, 1, 25
    )
    fragment.parameters[_FAILURE_DAYS] = number(
        "Days a failure record (a discarded batch, raw images included) is kept for redrive.", 30, 7, 365
    )
    fragment.parameters[_ACCESS_LOG_DAYS] = number("Days S3 server access logs are kept.", 365, 90, 3653)
    fragment.merge(
        access_logs_bucket(ACCESS_LOGS, _name("access-logs"), ref(_ACCESS_LOG_DAYS)),
        secure_bucket(
            LAKE_BUCKET,
            _name("lake"),
            rules=[
                {
                    "Id": "raw-to-infrequent-access",
                    "Status": "Enabled",
                    "Prefix": f"{LAKE.raw}/",
                    "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}],
                }
            ],
            description="the lake: raw events, dead letters, curated and current tables",
        ),
        secure_bucket(
            FAILURES,
            _name("failures"),
            rules=[
                {"Id": "expire-failure-records", "Status": "Enabled", "ExpirationInDays": ref(_FAILURE_DAYS)},
            ],
            metrics=[{"Id": FAILURE_RECORDS_FILTER, "Prefix": FAILURE_RECORDS_PREFIX}],
            description="the event source mappings' on-failure records",
        ),
        secure_bucket(
            ATHENA_RESULTS,
            _name("athena"),
            rules=[{"Id": "expire-query-results", "Status": "Enabled", "ExpirationInDays": 30}],
            description="Athena query results",
        ),
    )
    fragment.output("LakeRoot", sub(f"s3://${{{LAKE_BUCKET}}}"), "AUXEIRA_LAKE_ROOT of every deployable")
    fragment.output(
        "FailuresRoot",
        sub(f"s3://${{{FAILURES}}}"),
        f"failures_root of the on-call tools: the mappings' on-failure records, under {FAILURE_RECORDS_PREFIX}",
    )
    return fragment


def _name(purpose: str) -> dict[str, Any]:
    return sub(f"auxeira-{purpose}-${{Env}}-${{AWS::AccountId}}-${{AWS::Region}}")


def secure_bucket(
    name: str,
    bucket_name: Any,
    *,
    rules: list[dict[str, Any]],
    description: str,
    metrics: list[dict[str, Any]] | None = None,
    log_target: str = ACCESS_LOGS,
    kms_key: Any = KEY_ARN,
) -> Fragment:
    """A versioned, private, TLS-only bucket logging to ``log_target``, with its lifecycle and policy.

    Args:
        kms_key: the key objects are encrypted with; None for SSE-S3 (build artifacts only).
    """
    fragment = Fragment()
    default: dict[str, Any] = (
        {
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key},
            "BucketKeyEnabled": True,
        }
        if kms_key is not None
        else {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    )
    properties: dict[str, Any] = {
        "BucketName": bucket_name,
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [default]},
        **_private_versioned(),
        "LifecycleConfiguration": {"Rules": [*rules, *_housekeeping()]},
        "LoggingConfiguration": {"DestinationBucketName": ref(log_target), "LogFilePrefix": f"{name}/"},
        # Tag values allow letters, digits, spaces and + - = . _ : / @ only: the logical name, not the description.
        "Tags": [{"Key": "auxeira:bucket", "Value": name.removesuffix("Bucket")}],
    }
    if metrics:
        properties["MetricsConfigurations"] = metrics
    fragment.resource(name, "AWS::S3::Bucket", properties, DeletionPolicy="Retain", UpdateReplacePolicy="Retain")
    fragment.resource(
        f"{name}Policy", "AWS::S3::BucketPolicy", {"Bucket": ref(name), "PolicyDocument": _tls_only(name)}
    )
    fragment.output(name, ref(name), description)
    return fragment


def access_logs_bucket(name: str, bucket_name: Any, days: Any) -> Fragment:
    """The target of S3 server access logs: SSE-S3 (log delivery supports no other), expiring after ``days``."""
    fragment = Fragment()
    bucket = fragment.resource(
        name,
        "AWS::S3::Bucket",
        {
            "BucketName": bucket_name,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            **_private_versioned(),
            "LifecycleConfiguration": {
                "Rules": [{"Id": "expire-access-logs", "Status": "Enabled", "ExpirationInDays": days}, *_housekeeping()]
            },
        },
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    )
    suppress(
        bucket,
        Suppression(
            "checkov",
            "CKV_AWS_18",
            "This is the access-log target bucket; logging its own access into itself would loop.",
        ),
    )
    policy = _tls_only(name)
    policy["Statement"].append(
        {
            # S3 server access logging, "Permissions for log delivery": the service principal, this account only.
            "Sid": "S3ServerAccessLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": objects_arn(name),
            "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
        }
    )
    fragment.resource(f"{name}Policy", "AWS::S3::BucketPolicy", {"Bucket": ref(name), "PolicyDocument": policy})
    return fragment


def _private_versioned() -> dict[str, Any]:
    return {
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "VersioningConfiguration": {"Status": "Enabled"},
    }


def _housekeeping() -> list[dict[str, Any]]:
    return [
        {
            "Id": "abort-incomplete-uploads",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
        {
            "Id": "expire-old-versions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": ref(_NONCURRENT)},
            "ExpiredObjectDeleteMarker": True,
        },
    ]


def _tls_only(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn(bucket), objects_arn(bucket)],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
