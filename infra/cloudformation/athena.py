"""The Athena workgroup over the lake: enforced configuration, encrypted results, a scan cutoff.

``EnforceWorkGroupConfiguration`` makes the workgroup's result location and encryption
win over whatever a client asks for, so no query result lands unencrypted or outside
the results bucket; ``BytesScannedCutoffPerQuery`` cancels a query that would scan more
than ``AthenaBytesScannedCutoff`` (a forgotten partition filter over the raw events).
"""

from __future__ import annotations

from infra.cloudformation.buckets import ATHENA_RESULTS
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.model import Fragment, ref, sub
from infra.cloudformation.parameters import number

__all__ = ["WORKGROUP", "athena_workgroup"]

WORKGROUP = "AthenaWorkGroup"


def athena_workgroup() -> Fragment:
    fragment = Fragment()
    fragment.parameters["AthenaBytesScannedCutoff"] = number(
        "Bytes one query may scan before Athena cancels it (10 GiB by default; Athena's minimum is 10 MB).",
        10 * 2**30,
        10_000_000,
        2**50,
    )
    fragment.resource(
        WORKGROUP,
        "AWS::Athena::WorkGroup",
        {
            "Name": sub("auxeira-${Env}"),
            "Description": sub("auxeira ${Env}: queries over the lake"),
            "State": "ENABLED",
            "RecursiveDeleteOption": False,
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "PublishCloudWatchMetricsEnabled": True,
                "RequesterPaysEnabled": False,
                "BytesScannedCutoffPerQuery": ref("AthenaBytesScannedCutoff"),
                "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                "ResultConfiguration": {
                    "OutputLocation": sub(f"s3://${{{ATHENA_RESULTS}}}/results/"),
                    "ExpectedBucketOwner": ref("AWS::AccountId"),
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": KEY_ARN},
                },
            },
        },
    )
    fragment.output("AthenaWorkGroup", ref(WORKGROUP), "The workgroup every lake query runs in")
    return fragment
