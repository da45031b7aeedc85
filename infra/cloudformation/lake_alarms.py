"""A failed Glue job, as an alarm.

Glue publishes every job-run state change to EventBridge. One rule matches the lake's
jobs entering ``FAILED``, ``ERROR`` or ``TIMEOUT`` and notifies the alarm topic itself;
an alarm on the rule's ``TriggeredRules`` puts the failure on the same footing as every
other alarm (state, history, OK notification), and one on its ``FailedInvocations``
says when the notification itself could not be delivered.
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.cloudformation.alarms import ALARM_TOPIC, alarm
from infra.cloudformation.lake_catalog import LakeJob
from infra.cloudformation.lake_jobs import job_id
from infra.cloudformation.model import Fragment, Suppression, get_att, ref, sub, suppress

__all__ = ["FAILURE_STATES", "job_failure_alarm"]

FAILURE_STATES = ["FAILED", "ERROR", "TIMEOUT"]
_RULE = "GlueJobFailureRule"


def job_failure_alarm(jobs: Sequence[LakeJob]) -> Fragment:
    fragment = Fragment()
    rule_name = sub("auxeira-${Env}-glue-job-failures")
    rule = fragment.resource(
        _RULE,
        "AWS::Events::Rule",
        {
            "Name": rule_name,
            "Description": "A Glue job of the lake failed, errored or timed out",
            "State": "ENABLED",
            "EventPattern": {
                "source": ["aws.glue"],
                "detail-type": ["Glue Job State Change"],
                "detail": {"jobName": [ref(job_id(j)) for j in jobs], "state": FAILURE_STATES},
            },
            "Targets": [{"Id": "alarm-topic", "Arn": ref(ALARM_TOPIC)}],
        },
    )
    suppress(
        rule,
        Suppression(
            "cfn-lint",
            "ES4000",
            "The target is the alarm topic itself; a delivery that fails shows as the rule's "
            "FailedInvocations, which GlueJobFailureDeliveryAlarm watches.",
        ),
    )
    fragment.resource(
        "GlueJobFailureTopicPolicy",
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [ref(ALARM_TOPIC)],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "GlueJobFailureRulePublishes",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": ref(ALARM_TOPIC),
                        "Condition": {"ArnEquals": {"aws:SourceArn": get_att(_RULE, "Arn")}},
                    }
                ],
            },
        },
    )
    for name, metric, suffix, what in (
        (
            "GlueJobFailureAlarm",
            "TriggeredRules",
            "glue-job-failures",
            "A Glue job of the lake failed, errored or timed out",
        ),
        (
            "GlueJobFailureDeliveryAlarm",
            "FailedInvocations",
            "glue-job-failure-delivery",
            "The Glue failure rule could not notify the alarm topic",
        ),
    ):
        fragment.resource(
            name,
            "AWS::CloudWatch::Alarm",
            alarm(
                suffix,
                what,
                Namespace="AWS/Events",
                MetricName=metric,
                Dimensions=[{"Name": "RuleName", "Value": rule_name}],
                Statistic="Sum",
                Period=300,
                EvaluationPeriods=1,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            ),
        )
    return fragment
