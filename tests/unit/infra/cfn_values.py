"""Evaluating a rendered template's intrinsic functions with the values a deployment would give.

CloudFormation resolves ``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` and dynamic references at
deploy time; these tests resolve them with realistic stand-ins (a bucket name, an
ElastiCache primary endpoint, an OpenSearch VPC endpoint), so what a function would see
in its environment can be fed to the code that reads it.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SAMPLE", "resolve", "resources_of"]

ACCOUNT, REGION = "123456789012", "eu-west-2"

#: ``Ref`` names and ``GetAtt`` paths -> what CloudFormation would give, for env ``dev``.
SAMPLE: dict[str, str] = {
    "Env": "dev",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::StackName": "auxeira-dev",
    "LakeBucket": f"auxeira-lake-dev-{ACCOUNT}-{REGION}",
    "FailuresBucket": f"auxeira-failures-dev-{ACCOUNT}-{REGION}",
    "LakeBucket.Arn": f"arn:aws:s3:::auxeira-lake-dev-{ACCOUNT}-{REGION}",
    "FailuresBucket.Arn": f"arn:aws:s3:::auxeira-failures-dev-{ACCOUNT}-{REGION}",
    "AuxeiraCheckpointsTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/auxeira-checkpoints-dev",
    "AuxeiraCountersTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/auxeira-counters-dev",
    "CacheAuthSecret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:auxeira/dev/redis-auth-token-AbCdEf",
    "CacheReplicationGroup.PrimaryEndPoint.Address": "master.auxeira-dev.abcdef.euw2.cache.amazonaws.com",
    "CacheReplicationGroup.PrimaryEndPoint.Port": "6379",
    "SearchDomain.DomainEndpoint": f"vpc-auxeira-dev-abcdefghij.{REGION}.es.amazonaws.com",
}
_DYNAMIC = re.compile(r"\{\{resolve:secretsmanager:[^}]+\}\}")
_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def resolve(value: Any, sample: dict[str, str] = SAMPLE) -> Any:
    """``value`` with its intrinsic functions evaluated from ``sample`` (a missing name is a KeyError)."""
    if isinstance(value, list):
        return [resolve(v, sample) for v in value]
    if not isinstance(value, dict):
        return _DYNAMIC.sub("sample-secret-value", value) if isinstance(value, str) else value
    if "Ref" in value:
        return sample[value["Ref"]]
    if "Fn::GetAtt" in value:
        return sample[".".join(value["Fn::GetAtt"])]
    if "Fn::Sub" in value:
        body = value["Fn::Sub"]
        text, extra = (body, {}) if isinstance(body, str) else (body[0], body[1])
        names = {**sample, **{k: resolve(v, sample) for k, v in extra.items()}}
        resolved = _VARIABLE.sub(lambda m: str(names[m.group(1)]), text).replace("${!", "${")
        return _DYNAMIC.sub("sample-secret-value", resolved)
    return {k: resolve(v, sample) for k, v in value.items()}


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}
