"""The parameters every family shares: the environment, the artifacts, log retention.

One template serves every environment: names are ``Fn::Sub`` of the registry's
physical-name templates with ``${Env}``, and what differs in production (deletion
protection) is a Condition on ``Env``, never a second template.
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.model import Fragment, sub

__all__ = [
    "ENVIRONMENTS",
    "IS_PROD",
    "LOG_RETENTION",
    "artifacts",
    "environment",
    "log_retention",
    "named",
    "number",
]

#: The environments a template deploys (``local`` lives on the local stack only).
ENVIRONMENTS = ("dev", "prod")
IS_PROD = "IsProd"
LOG_RETENTION = "LogRetentionDays"
#: CloudWatch Logs' allowed retention periods (PutRetentionPolicy).
_RETENTION_DAYS = [
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
]


def named(template: str) -> dict[str, Any]:
    """A physical name from a registry template with ``{env}`` (``auxeira-events-{env}``)."""
    return sub(template.replace("{env}", "${Env}"))


def number(description: str, default: int, minimum: int, maximum: int) -> dict[str, Any]:
    return {
        "Type": "Number",
        "Description": description,
        "Default": default,
        "MinValue": minimum,
        "MaxValue": maximum,
    }


def environment() -> Fragment:
    fragment = Fragment()
    fragment.parameters["Env"] = {
        "Type": "String",
        "Description": "The environment: names every resource and turns on production's protections.",
        "AllowedValues": list(ENVIRONMENTS),
        "Default": ENVIRONMENTS[0],
    }
    fragment.conditions[IS_PROD] = {"Fn::Equals": [{"Ref": "Env"}, "prod"]}
    return fragment


def log_retention() -> Fragment:
    fragment = Fragment()
    fragment.parameters[LOG_RETENTION] = {
        "Type": "Number",
        "Description": "Days every log group keeps its events.",
        "Default": 90,
        "AllowedValues": _RETENTION_DAYS,
    }
    return fragment


def artifacts() -> Fragment:
    """Where ``auxeira infra package`` output was uploaded (see docs/deploy.md)."""
    fragment = Fragment()
    fragment.parameters["ArtifactsBucket"] = {
        "Type": "String",
        "Description": "Bucket holding the packaged artifacts (the bootstrap stack's ArtifactsBucket output).",
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    }
    fragment.parameters["ArtifactsPrefix"] = {
        "Type": "String",
        "Description": "Key prefix of one release (auxeira infra package prints it): "
        "lambda.zip, glue-extra-py-files.zip and glue/<script> live under it.",
        "AllowedPattern": "^[A-Za-z0-9][A-Za-z0-9/_.-]*[A-Za-z0-9]$",
    }
    return fragment
