"""The project's policy checks: the rendered templates pass them, and each check fails its fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cloudformation.render import TEMPLATE_DIR
from infra.policy_checks import CHECKS, check_template, load

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "infra"

#: check -> what its fixture must be refused for (each a piece of a finding's message).
EXPECTED = {
    "opensearch-domain": [
        "encryption at rest is off",
        "node-to-node encryption is off",
        "HTTPS is not enforced",
        "TLS policy",
        "not in a VPC",
        "fine-grained access control is off",
    ],
    "kinesis-encryption": ["not encrypted with a KMS key"],
    "mapping-semantics": [
        "KinesisMapping: FunctionResponseTypes lacks ReportBatchItemFailures",
        "KinesisMapping: MaximumRetryAttempts must be finite, 0..10000 (is -1)",
        "KinesisMapping: the on-failure destination is not an S3 bucket",
        "TableMapping: BisectBatchOnFunctionError is not true",
        "TableMapping: MaximumRecordAgeInSeconds must be finite, 60..604800 (is -1)",
    ],
    "glue-security": [
        "Weak: S3 encryption is not SSE-KMS",
        "Weak: CloudWatch encryption is not SSE-KMS",
        "Weak: job bookmarks are not CSE-KMS encrypted",
        "Job: the job names no security configuration",
    ],
    "athena-workgroup": ["not enforced", "not KMS-encrypted", "no bytes-scanned cutoff"],
    "private-buckets": [
        "public access is not blocked",
        "ACL PublicRead is public",
        "without TLS",
        "AnyoneReads grants anyone",
    ],
    "no-wildcard-actions": ["Lake allows s3:*", "Tables allows dynamodb:Get*"],
    "scoped-resources": ["AnyTable allows ['dynamodb:UpdateItem'] on '*'"],
    "suppression-reasons": ["checkov skip CKV_AWS_117 has no reason", "cfn-lint ignore WS1000 has no reason"],
}


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATE_DIR.glob("*.yaml")))
def test_every_rendered_template_passes_every_project_check(name):
    assert [str(f) for f in check_template(load(TEMPLATE_DIR / name))] == []


def test_every_check_has_a_fixture_and_an_expectation():
    assert sorted(EXPECTED) == sorted(CHECKS)
    assert sorted(p.stem for p in FIXTURES.glob("*.yaml")) == sorted(CHECKS)


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_each_check_fails_its_fixture_for_each_reason(check):
    # GIVEN the fixture written to break this check
    template = load(FIXTURES / f"{check}.yaml")
    # WHEN the check reads it
    findings = [f"{f.resource}: {f.message}" for f in CHECKS[check](template)]
    # THEN it is refused for every reason the fixture holds
    for expected in EXPECTED[check]:
        assert any(expected in f for f in findings), f"{check} did not find {expected!r} in {findings}"


def test_a_mapping_of_a_queue_is_not_held_to_stream_semantics():
    # GIVEN an SQS mapping (no StartingPosition, no stream): bisect and record age do not apply to it
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Mapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"FunctionName": "f", "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]}},
            },
        }
    }
    assert CHECKS["mapping-semantics"](template) == []


def test_short_form_tags_read_as_their_long_form():
    template = load(FIXTURES / "mapping-semantics.yaml")
    props = template["Resources"]["TableMapping"]["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::failures"}
