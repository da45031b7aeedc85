"""The bootstrap stack: once per account and region, the bucket releases are uploaded to.

``auxeira infra package`` builds a release (the Lambda zip, the Glue ``--extra-py-files``
zip, the Glue entry scripts) under a content-addressed prefix; it is copied here and
the pipeline stack names it with ``ArtifactsBucket``/``ArtifactsPrefix``. The bucket
holds code only, never data, and is encrypted with SSE-S3 so that Lambda (reading the
deployer's upload) and every Glue job role can read a release without a grant on a key
of another stack. Its access logs go to a bucket of its own.
"""

from __future__ import annotations

from infra.cloudformation.buckets import access_logs_bucket, secure_bucket
from infra.cloudformation.model import Fragment, ref, sub

__all__ = ["ARTIFACTS", "bootstrap"]

ARTIFACTS = "ArtifactsBucket"
_LOGS = "ArtifactsAccessLogsBucket"


def bootstrap() -> Fragment:
    fragment = Fragment()
    fragment.parameters["NoncurrentVersionDays"] = {
        "Type": "Number",
        "Description": "Days a replaced release object is kept.",
        "Default": 14,
        "MinValue": 1,
        "MaxValue": 25,
    }
    fragment.merge(
        access_logs_bucket(_LOGS, sub("auxeira-artifacts-logs-${AWS::AccountId}-${AWS::Region}"), 365),
        secure_bucket(
            ARTIFACTS,
            sub("auxeira-artifacts-${AWS::AccountId}-${AWS::Region}"),
            rules=[],
            description="auxeira releases: Lambda and Glue artifacts",
            log_target=_LOGS,
            kms_key=None,
        ),
    )
    fragment.outputs[ARTIFACTS]["Export"] = {"Name": sub("${AWS::StackName}-ArtifactsBucket")}
    fragment.outputs[ARTIFACTS]["Value"] = ref(ARTIFACTS)
    return fragment
