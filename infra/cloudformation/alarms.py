"""CloudWatch alarms, all to one encrypted SNS topic.

Per consumer (one function per mapping spec):

* **iterator age**: the age of the newest record the mapping has read (Lambda's
  ``IteratorAge``, maximum), above ``IteratorAgeAlarmMinutes`` for five minutes;
* **time to retention loss**: the hours left before the oldest unread record leaves its
  stream, ``retention - IteratorAge`` (``StreamRetentionHours`` for the events stream,
  24 h for DynamoDB Streams, which AWS fixes), below ``RetentionLossAlarmHours``: past
  that point a replay cannot recover what the consumer has not read;
* **errors** (an invocation that crashed or timed out: the handler reports record
  failures itself, so any error is a defect) and **throttles** (sustained: the reserved
  concurrency is below the mapping's readers);
* **dead letters**: the handlers' ``DeadLettered`` metric (EMF, namespace
  ``Auxeira/Pipeline``, dimensions as ``PowertoolsObserver`` emits them);
* **store reset**, for the consumers whose store carries an epoch marker: its
  ``StoreReset`` metric (the store lost or swapped its state behind the checkpoints).

And once: **failure records**, objects Lambda wrote to the on-failure destination (the
failures bucket's request metrics filter on ``aws/lambda/``), which only a crash or a
timeout for the whole record age produces. Glue job failures are in
:mod:`infra.cloudformation.glue`.
"""

from __future__ import annotations

from typing import Any

from auxeira.runtime.observability import METRIC_NAMESPACE, STORE_RESET
from infra.cloudformation.buckets import FAILURE_RECORDS_FILTER, FAILURES
from infra.cloudformation.deployables import Store, deployables, function_name
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.model import NO_VALUE, Fragment, if_, logical_id, ref, sub
from infra.cloudformation.parameters import named, number
from infra.cloudformation.stream import RETENTION_HOURS
from schemas.resources import REGISTRY, MappingSpec, Registry

__all__ = [
    "ALARM_TOPIC",
    "DYNAMODB_STREAM_RETENTION_HOURS",
    "alarm",
    "alarm_topic",
    "alarms",
    "emf_dimension_pairs",
    "emf_dimensions",
    "retention_hours_of",
]

ALARM_TOPIC = "AlarmTopic"
#: DynamoDB Streams keep a record 24 hours; it cannot be changed.
DYNAMODB_STREAM_RETENTION_HOURS = 24
_HAS_EMAIL = "HasAlarmEmail"


def emf_dimension_pairs(spec: MappingSpec) -> list[tuple[str, str]]:
    """The dimensions ``PowertoolsObserver`` puts on a consumer's metrics, ``{env}`` for the
    environment (a test holds them equal to what the observer emits)."""
    return [("consumer", spec.consumer), ("environment", "{env}"), ("service", f"auxeira-{spec.consumer}")]


def emf_dimensions(spec: MappingSpec) -> list[dict[str, Any]]:
    return [{"Name": n, "Value": named(v) if "{env}" in v else v} for n, v in emf_dimension_pairs(spec)]


def retention_hours_of(spec: MappingSpec) -> str:
    """How long the mapping's source keeps a record, as text for a metric-math expression."""
    return f"${{{RETENTION_HOURS}}}" if spec.source == "kinesis" else str(DYNAMODB_STREAM_RETENTION_HOURS)


def alarm(name: str, description: str, **properties: Any) -> dict[str, Any]:
    """An alarm's properties, its notifications going to the alarm topic."""
    return {
        "AlarmName": named(f"auxeira-{{env}}-{name}"),
        "AlarmDescription": description,
        "ActionsEnabled": True,
        "AlarmActions": [ref(ALARM_TOPIC)],
        "OKActions": [ref(ALARM_TOPIC)],
        "TreatMissingData": "notBreaching",
        **properties,
    }


def alarm_topic() -> Fragment:
    fragment = Fragment()
    fragment.parameters["AlarmEmail"] = {
        "Type": "String",
        "Description": "Optional: an address subscribed to every alarm (confirm the subscription mail).",
        "Default": "",
        "AllowedPattern": "^([^@\\s]+@[^@\\s]+)?$",
    }
    fragment.conditions[_HAS_EMAIL] = {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]}
    fragment.resource(
        ALARM_TOPIC,
        "AWS::SNS::Topic",
        {
            "TopicName": sub("auxeira-alarms-${Env}"),
            "KmsMasterKeyId": KEY_ARN,
            "Subscription": if_(_HAS_EMAIL, [{"Protocol": "email", "Endpoint": ref("AlarmEmail")}], NO_VALUE),
        },
    )
    fragment.output("AlarmTopicArn", ref(ALARM_TOPIC), "Every alarm notifies this topic")
    return fragment


def alarms(registry: Registry = REGISTRY) -> Fragment:
    fragment = alarm_topic()
    fragment.parameters["IteratorAgeAlarmMinutes"] = number(
        "A consumer whose newest read record is older than this for 5 minutes is lagging.", 10, 1, 1440
    )
    fragment.parameters["RetentionLossAlarmHours"] = number(
        "Alarm when a consumer's unread records are this close to leaving their stream.", 12, 1, 168
    )
    for spec, deployable in deployables(registry):
        for suffix, properties in _consumer_alarms(spec, Store.EPOCHS in deployable.stores).items():
            fragment.resource(logical_id(spec.consumer, suffix, "Alarm"), "AWS::CloudWatch::Alarm", properties)
    fragment.resource(
        "FailureRecordsAlarm",
        "AWS::CloudWatch::Alarm",
        alarm(
            "failure-records",
            "A mapping discarded a batch to the failures bucket (a crash or timeout for the whole record age): "
            "redrive it (auxeira dlq / replay).",
            Namespace="AWS/S3",
            MetricName="PutRequests",
            Dimensions=[
                {"Name": "BucketName", "Value": ref(FAILURES)},
                {"Name": "FilterId", "Value": FAILURE_RECORDS_FILTER},
            ],
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        ),
    )
    return fragment


def _consumer_alarms(spec: MappingSpec, has_epochs: bool) -> dict[str, dict[str, Any]]:
    function = [{"Name": "FunctionName", "Value": named(function_name(spec))}]
    age = {
        "Id": "age",
        "ReturnData": False,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": "IteratorAge", "Dimensions": function},
            "Period": 60,
            "Stat": "Maximum",
        },
    }
    c = spec.consumer
    alarms = {
        "IteratorAge": alarm(
            f"{c}-iterator-age",
            f"The {c} consumer lags: its newest read record is older than IteratorAgeAlarmMinutes.",
            Metrics=[
                age,
                {"Id": "minutes", "Expression": "age / 60000", "Label": "iterator age (min)", "ReturnData": True},
            ],
            EvaluationPeriods=5,
            DatapointsToAlarm=5,
            Threshold=ref("IteratorAgeAlarmMinutes"),
            ComparisonOperator="GreaterThanThreshold",
        ),
        "RetentionLoss": alarm(
            f"{c}-retention-loss",
            f"The {c} consumer's unread records leave their stream in less than RetentionLossAlarmHours.",
            Metrics=[
                age,
                {
                    "Id": "hoursleft",
                    "Expression": _expression(f"({retention_hours_of(spec)} * 3600000 - age) / 3600000"),
                    "Label": "hours to retention loss",
                    "ReturnData": True,
                },
            ],
            EvaluationPeriods=3,
            DatapointsToAlarm=3,
            Threshold=ref("RetentionLossAlarmHours"),
            ComparisonOperator="LessThanThreshold",
        ),
        "Errors": _function_metric(c, "Errors", function, "invocations failed (a crash or a timeout)", 1),
        "Throttles": _function_metric(c, "Throttles", function, "is throttled (reserved concurrency too low?)", 3),
        "DeadLetters": alarm(
            f"{c}-dead-letters",
            f"The {c} consumer dead-lettered records (lake dlq/{c}/): inspect and redrive them.",
            Namespace=METRIC_NAMESPACE,
            MetricName="DeadLettered",
            Dimensions=emf_dimensions(spec),
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        ),
    }
    if has_epochs:
        alarms["StoreReset"] = alarm(
            f"{c}-store-reset",
            f"The {c} consumer's store lost or swapped its state (its epoch marker): rebuild it (backfill).",
            Namespace=METRIC_NAMESPACE,
            MetricName=STORE_RESET,
            Dimensions=emf_dimensions(spec),
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
    return alarms


def _expression(text: str) -> Any:
    return sub(text) if "${" in text else text


def _function_metric(consumer: str, metric: str, dimensions: list[Any], what: str, periods: int) -> dict[str, Any]:
    return alarm(
        f"{consumer}-{metric.lower()}",
        f"The {consumer} function {what}.",
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=dimensions,
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=periods,
        DatapointsToAlarm=periods,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
