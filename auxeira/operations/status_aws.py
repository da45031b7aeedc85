"""The deployed consumers' status, from what AWS exposes: their positions live inside Lambda.

A Lambda event source mapping keeps its shard positions to itself (no API reads them),
so per-shard checkpoints cannot be shown on AWS. What can be, per mapping:

* ``ListEventSourceMappings``: its state (``Enabled``, ``Disabled``, ...), the reason of
  its last state change and its last processing result (``OK``, ``PROBLEM: ...``);
* CloudWatch, over the last minutes: Lambda's ``IteratorAge`` of the function (the age
  of the last record of the newest batch read: how far behind it reads) and the
  project's ``NewestAppliedAgeMs`` (how old the newest record applied was);
* ``retention - IteratorAge``: about how long before records start leaving the stream
  unread (the same figure the ``RetentionLoss`` alarm watches).

Function names follow ``infra.cloudformation.deployables.function_name``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from auxeira.operations.environment import Environment
from auxeira.operations.status_report import MappingStatus, StatusReport, Thresholds, count_objects, span
from auxeira.runtime.observability import METRIC_NAMESPACE
from schemas.resources import MappingSpec

__all__ = ["LAMBDA_NOTE", "collect_mappings", "function_name"]

LAMBDA_NOTE = (
    "per-shard positions are not available on AWS: Lambda keeps them inside the event source mappings; "
    "shown instead: each mapping's state and last result, IteratorAge and NewestAppliedAgeMs"
)
#: How far back the metrics are read (a minute per datapoint).
METRICS_WINDOW = timedelta(minutes=10)
_HEALTHY_RESULTS = frozenset({"OK", "No records processed"})
_DYNAMODB_RETENTION_HOURS = 24.0


def function_name(spec: MappingSpec, env: str) -> str:
    """The deployed function of a mapping, as CloudFormation names it."""
    from infra.cloudformation.deployables import function_name as template

    return template(spec).format(env=env)


def collect_mappings(env: Environment, report: StatusReport, thresholds: Thresholds) -> None:
    """Fill ``report.mappings`` with every deployed mapping of the registry's consumers."""
    report.notes.append(LAMBDA_NOTE)
    lam, cloudwatch = env.clients.client("lambda"), env.clients.client("cloudwatch")
    stream_hours = float(
        env.kinesis.describe_stream_summary(StreamName=env.stream_name)["StreamDescriptionSummary"][
            "RetentionPeriodHours"
        ]
    )
    end = datetime.fromtimestamp(report.at, UTC)
    for spec in env.registry.mappings:
        function = function_name(spec, env.name)
        found = _mappings_of(lam, function)
        if not found:
            report.warnings.append(f"{spec.consumer}: no event source mapping of function {function}")
            continue
        ages = _latest_metrics(cloudwatch, spec, function, env.name, end)
        for esm in found:
            status = MappingStatus(
                consumer=spec.consumer,
                function=function,
                uuid=esm["UUID"],
                source_arn=esm.get("EventSourceArn", ""),
                state=esm.get("State", ""),
                last_result=esm.get("LastProcessingResult", ""),
                state_reason=esm.get("StateTransitionReason", ""),
                iterator_age_ms=ages.get("iterator"),
                newest_applied_age_ms=ages.get("applied"),
                retention_hours=stream_hours if spec.source == "kinesis" else _DYNAMODB_RETENTION_HOURS,
            )
            status.failure_records = count_objects(env.failure_objects, env.mapping_failures_prefix(status.uuid))
            status.warnings = _warnings(status, thresholds)
            report.mappings.append(status)


def _warnings(status: MappingStatus, thresholds: Thresholds) -> list[str]:
    where = f"{status.consumer} ({_source_label(status.source_arn) or status.uuid})"
    out = []
    if status.state != "Enabled":
        out.append(f"{where}: mapping is {status.state or 'in no state'} ({status.state_reason})")
    if status.last_result and status.last_result not in _HEALTHY_RESULTS:
        out.append(f"{where}: last processing result {status.last_result!r}")
    age = status.iterator_age_ms
    if age is not None and age / 1000 > thresholds.lag_seconds:
        out.append(f"{where}: IteratorAge {span(age / 1000)}: the consumer is behind")
    left = status.retention_left_seconds
    if left is not None and left < thresholds.retention_warning_seconds(status.retention_hours):
        out.append(
            f"{where}: unread records may leave the stream in {span(left)} "
            f"(retention {status.retention_hours:g} h - IteratorAge)"
        )
    if status.failure_records:
        out.append(f"{where}: {status.failure_records} failure records: `auxeira dlq list`")
    return out


def _source_label(arn: str) -> str:
    """A table's name for a table stream's ARN, the stream's name for a Kinesis one."""
    if ":table/" in arn:
        return arn.partition(":table/")[2].split("/", 1)[0]
    return arn.rpartition("/")[2]


def _mappings_of(lam: Any, function: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"FunctionName": function}
    while True:
        try:
            page = lam.list_event_source_mappings(**kwargs)
        except lam.exceptions.ResourceNotFoundException:
            return out
        out += page.get("EventSourceMappings", [])
        marker = page.get("NextMarker")
        if not marker:
            return out
        kwargs["Marker"] = marker


def _latest_metrics(cloudwatch: Any, spec: MappingSpec, function: str, env: str, end: datetime) -> dict[str, float]:
    """The newest one-minute maximum of IteratorAge and NewestAppliedAgeMs (absent: no datapoint)."""
    emf = [("consumer", spec.consumer), ("environment", env), ("service", f"auxeira-{spec.consumer}")]
    queries = [
        _query("iterator", "AWS/Lambda", "IteratorAge", [("FunctionName", function)]),
        _query("applied", METRIC_NAMESPACE, "NewestAppliedAgeMs", emf),
    ]
    response = cloudwatch.get_metric_data(
        MetricDataQueries=queries, StartTime=end - METRICS_WINDOW, EndTime=end, ScanBy="TimestampDescending"
    )
    return {r["Id"]: float(r["Values"][0]) for r in response.get("MetricDataResults", []) if r.get("Values")}


def _query(query_id: str, namespace: str, name: str, dimensions: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": n, "Value": v} for n, v in dimensions],
            },
            "Period": 60,
            "Stat": "Maximum",
        },
        "ReturnData": True,
    }
