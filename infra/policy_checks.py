"""The project's own checks over rendered templates: what no installed linter checks.

cfn-lint and checkov run too (tests/unit/infra/test_linters.py); these checks close the
gaps measured in them (ANCHORS.md, section 5): checkov's OpenSearch encryption and HTTPS
checks know only the legacy ``AWS::Elasticsearch::Domain``, and nothing checks an event
source mapping's failure semantics, a Glue job's security configuration as a whole, or
where a policy's wildcards are.

Each check is a function ``(template) -> [Finding]`` in :data:`CHECKS`, and each is
proved by a fixture template under ``tests/fixtures/infra/`` that fails it. A check
reads the template as CloudFormation gives it: long-form intrinsic functions, or the
YAML short forms (``!GetAtt``, ``!Sub``), which :func:`load` turns into the long form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from infra.cloudformation.render import load

__all__ = ["CHECKS", "UNSCOPED_ACTIONS", "Finding", "check_template", "load"]

#: Actions that authorize on no resource: ``Resource: "*"`` is allowed for these only.
UNSCOPED_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "dynamodb:ListStreams",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "cloudwatch:PutMetricData",
    }
)
_MIN_TLS = "Policy-Min-TLS-1-2"
_IDENTITY_POLICIES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy")


@dataclass(frozen=True)
class Finding:
    check: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.resource}: {self.message}"


Template = dict[str, Any]
Check = Callable[[Template], list[Finding]]


# -- reading templates -------------------------------------------------------------------


def _resources(template: Template, *kinds: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, body in (template.get("Resources") or {}).items():
        if body.get("Type") in kinds:
            yield name, body.get("Properties") or {}


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _type_of(template: Template, name: str) -> str | None:
    return _get(template, "Resources", name, "Type")


def _target(template: Template, value: Any) -> str | None:
    """The type of the resource a ``Ref``/``GetAtt`` points at (None for anything else)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return _type_of(template, value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return _type_of(template, target[0] if isinstance(target, list) else str(target).split(".")[0])
    return None


# -- the checks --------------------------------------------------------------------------


def opensearch_domains(template: Template) -> list[Finding]:
    """Encryption at rest, node to node, HTTPS with TLS 1.2+, a VPC and fine-grained access control."""
    findings = []
    for name, p in _resources(template, "AWS::OpenSearchService::Domain", "AWS::Elasticsearch::Domain"):
        problems = [
            ("encryption at rest is off", _get(p, "EncryptionAtRestOptions", "Enabled") is not True),
            ("node-to-node encryption is off", _get(p, "NodeToNodeEncryptionOptions", "Enabled") is not True),
            ("HTTPS is not enforced", _get(p, "DomainEndpointOptions", "EnforceHTTPS") is not True),
            (
                f"TLS policy is not {_MIN_TLS}*",
                not str(_get(p, "DomainEndpointOptions", "TLSSecurityPolicy") or "").startswith(_MIN_TLS),
            ),
            ("not in a VPC (no VPCOptions.SubnetIds)", not _get(p, "VPCOptions", "SubnetIds")),
            ("fine-grained access control is off", _get(p, "AdvancedSecurityOptions", "Enabled") is not True),
        ]
        findings += [Finding("opensearch-domain", name, text) for text, failed in problems if failed]
    return findings


def kinesis_encryption(template: Template) -> list[Finding]:
    findings = []
    for name, p in _resources(template, "AWS::Kinesis::Stream"):
        encryption = p.get("StreamEncryption") or {}
        if encryption.get("EncryptionType") != "KMS" or not encryption.get("KeyId"):
            findings.append(Finding("kinesis-encryption", name, "the stream is not encrypted with a KMS key"))
    return findings


def mapping_semantics(template: Template) -> list[Finding]:
    """Every stream mapping: reports item failures, bisects, retries and ages finitely, fails to S3."""
    findings = []
    for name, p in _resources(template, "AWS::Lambda::EventSourceMapping"):
        source = _target(template, p.get("EventSourceArn"))
        if "StartingPosition" not in p and source not in ("AWS::Kinesis::Stream", "AWS::DynamoDB::Table"):
            continue  # a queue's mapping: none of these settings apply
        retries, age = p.get("MaximumRetryAttempts", -1), p.get("MaximumRecordAgeInSeconds", -1)
        problems = [
            (
                "FunctionResponseTypes lacks ReportBatchItemFailures",
                "ReportBatchItemFailures" not in _as_list(p.get("FunctionResponseTypes")),
            ),
            ("BisectBatchOnFunctionError is not true", p.get("BisectBatchOnFunctionError") is not True),
            (
                f"MaximumRetryAttempts must be finite, 0..10000 (is {retries})",
                not (isinstance(retries, int) and 0 <= retries <= 10_000),
            ),
            (
                f"MaximumRecordAgeInSeconds must be finite, 60..604800 (is {age})",
                not (isinstance(age, int) and 60 <= age <= 604_800),
            ),
            (
                "the on-failure destination is not an S3 bucket (SQS and SNS keep no payload)",
                not _is_bucket(template, _get(p, "DestinationConfig", "OnFailure", "Destination")),
            ),
        ]
        findings += [Finding("mapping-semantics", name, text) for text, failed in problems if failed]
    return findings


def _is_bucket(template: Template, destination: Any) -> bool:
    if _target(template, destination) == "AWS::S3::Bucket":
        return True
    text = destination if isinstance(destination, str) else _get(destination, "Fn::Sub")
    text = text[0] if isinstance(text, list) else text
    return isinstance(text, str) and (text.startswith(("arn:aws:s3:::", "arn:${AWS::Partition}:s3:::")))


def glue_security(template: Template) -> list[Finding]:
    """Every Glue job under a security configuration that encrypts S3, logs and bookmarks with KMS."""
    configurations = dict(_resources(template, "AWS::Glue::SecurityConfiguration"))
    findings = []
    for name, p in configurations.items():
        encryption = p.get("EncryptionConfiguration") or {}
        s3 = [e.get("S3EncryptionMode") for e in _as_list(encryption.get("S3Encryptions"))]
        problems = [
            ("S3 encryption is not SSE-KMS", s3 != ["SSE-KMS"]),
            (
                "CloudWatch encryption is not SSE-KMS",
                _get(encryption, "CloudWatchEncryption", "CloudWatchEncryptionMode") != "SSE-KMS",
            ),
            (
                "job bookmarks are not CSE-KMS encrypted",
                _get(encryption, "JobBookmarksEncryption", "JobBookmarksEncryptionMode") != "CSE-KMS",
            ),
        ]
        findings += [Finding("glue-security", name, text) for text, failed in problems if failed]
    for name, p in _resources(template, "AWS::Glue::Job"):
        reference = p.get("SecurityConfiguration")
        if not (isinstance(reference, dict) and reference.get("Ref") in configurations):
            findings.append(Finding("glue-security", name, "the job names no security configuration of this template"))
    return findings


def athena_workgroups(template: Template) -> list[Finding]:
    findings = []
    for name, p in _resources(template, "AWS::Athena::WorkGroup"):
        configuration = p.get("WorkGroupConfiguration") or {}
        encryption = _get(configuration, "ResultConfiguration", "EncryptionConfiguration", "EncryptionOption")
        problems = [
            (
                "the workgroup's configuration is not enforced",
                configuration.get("EnforceWorkGroupConfiguration") is not True,
            ),
            ("query results are not KMS-encrypted", encryption not in ("SSE_KMS", "CSE_KMS")),
            ("no bytes-scanned cutoff per query", configuration.get("BytesScannedCutoffPerQuery") is None),
        ]
        findings += [Finding("athena-workgroup", name, text) for text, failed in problems if failed]
    return findings


def private_buckets(template: Template) -> list[Finding]:
    """Public access blocked, no public ACL, no unconditioned public grant, TLS only."""
    findings = []
    policies = {
        _get(p, "Bucket", "Ref"): _as_list(_get(p, "PolicyDocument", "Statement"))
        for _, p in _resources(template, "AWS::S3::BucketPolicy")
    }
    for name, p in _resources(template, "AWS::S3::Bucket"):
        block = p.get("PublicAccessBlockConfiguration") or {}
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        if not all(block.get(f) is True for f in flags):
            findings.append(Finding("private-buckets", name, "public access is not blocked on all four settings"))
        if str(p.get("AccessControl", "")).startswith("Public"):
            findings.append(Finding("private-buckets", name, f"ACL {p['AccessControl']} is public"))
        statements = policies.get(name, [])
        if not any(_denies_plain_http(s) for s in statements):
            findings.append(Finding("private-buckets", name, "no bucket policy denies requests without TLS"))
        for s in statements:
            if s.get("Effect") == "Allow" and _anyone(s.get("Principal")) and not s.get("Condition"):
                findings.append(Finding("private-buckets", name, f"statement {s.get('Sid', '?')} grants anyone"))
    return findings


def _anyone(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS")))


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    return statement.get("Effect") == "Deny" and _get(statement, "Condition", "Bool", "aws:SecureTransport") in (
        "false",
        False,
    )


def _identity_statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, p in _resources(template, *_IDENTITY_POLICIES):
        documents = [p.get("PolicyDocument")] + [q.get("PolicyDocument") for q in _as_list(p.get("Policies"))]
        for document in documents:
            for s in _as_list(_get(document, "Statement")):
                if isinstance(s, dict) and s.get("Effect") == "Allow":
                    yield name, s


def no_wildcard_actions(template: Template) -> list[Finding]:
    """No ``*`` in an allowed action of an identity policy (``s3:*``, ``dynamodb:Get*``, ``*``)."""
    return [
        Finding("no-wildcard-actions", name, f"statement {s.get('Sid', '?')} allows {action}")
        for name, s in _identity_statements(template)
        for action in _as_list(s.get("Action"))
        if isinstance(action, str) and "*" in action
    ]


def scoped_resources(template: Template) -> list[Finding]:
    """``Resource: "*"`` only for actions that authorize on no resource (:data:`UNSCOPED_ACTIONS`)."""
    findings = []
    for name, s in _identity_statements(template):
        if "*" not in _as_list(s.get("Resource")):
            continue
        scoped = sorted(a for a in _as_list(s.get("Action")) if a not in UNSCOPED_ACTIONS)
        if scoped:
            findings.append(Finding("scoped-resources", name, f"statement {s.get('Sid', '?')} allows {scoped} on '*'"))
    return findings


def suppression_reasons(template: Template) -> list[Finding]:
    """Every silenced linter finding says why, in the template."""
    findings = []
    for name, body in (template.get("Resources") or {}).items():
        metadata = body.get("Metadata") or {}
        for skip in _as_list(_get(metadata, "checkov", "skip")):
            if len(str(skip.get("comment") or "").strip()) < 20:
                findings.append(Finding("suppression-reasons", name, f"checkov skip {skip.get('id')} has no reason"))
        config = _get(metadata, "cfn-lint", "config") or {}
        reasons = config.get("ignore_reasons") or {}
        for rule in _as_list(config.get("ignore_checks")):
            if len(str(reasons.get(rule) or "").strip()) < 20:
                findings.append(Finding("suppression-reasons", name, f"cfn-lint ignore {rule} has no reason"))
    return findings


CHECKS: dict[str, Check] = {
    "opensearch-domain": opensearch_domains,
    "kinesis-encryption": kinesis_encryption,
    "mapping-semantics": mapping_semantics,
    "glue-security": glue_security,
    "athena-workgroup": athena_workgroups,
    "private-buckets": private_buckets,
    "no-wildcard-actions": no_wildcard_actions,
    "scoped-resources": scoped_resources,
    "suppression-reasons": suppression_reasons,
}


def check_template(template: Template) -> list[Finding]:
    """Every check's findings over one template (empty: it passes them all)."""
    return [finding for check in CHECKS.values() for finding in check(template)]
