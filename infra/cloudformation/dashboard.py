"""One CloudWatch dashboard: each consumer's lag, throughput and failures, a row each.

Lag is Lambda's ``IteratorAge`` (how old the newest record read is) beside the handlers'
``NewestAppliedAgeMs`` (how old the newest record applied to the store was); throughput
is the handlers' ``Records`` and ``Applied`` per minute; failures are function errors,
throttles, retried and dead-lettered records.
"""

from __future__ import annotations

import json
from typing import Any

from auxeira.runtime.observability import METRIC_NAMESPACE
from infra.cloudformation.alarms import emf_dimension_pairs
from infra.cloudformation.deployables import deployables, function_name
from infra.cloudformation.model import Fragment, sub
from schemas.resources import REGISTRY, MappingSpec, Registry

__all__ = ["DASHBOARD", "dashboard", "dashboard_body"]

DASHBOARD = "PipelineDashboard"
_WIDTH, _HEIGHT = 8, 6


def dashboard_body(registry: Registry = REGISTRY) -> dict[str, Any]:
    widgets: list[dict[str, Any]] = []
    for row, (spec, _) in enumerate(deployables(registry)):
        for column, (title, metrics) in enumerate(_row(spec)):
            widgets.append(
                {
                    "type": "metric",
                    "x": column * _WIDTH,
                    "y": row * _HEIGHT,
                    "width": _WIDTH,
                    "height": _HEIGHT,
                    "properties": {
                        "title": f"{spec.consumer}: {title}",
                        "region": "${AWS::Region}",
                        "view": "timeSeries",
                        "period": 60,
                        "metrics": metrics,
                    },
                }
            )
    return {"widgets": widgets}


def dashboard(registry: Registry = REGISTRY) -> Fragment:
    fragment = Fragment()
    body = json.dumps(dashboard_body(registry), sort_keys=True, separators=(",", ":"))
    fragment.resource(
        DASHBOARD,
        "AWS::CloudWatch::Dashboard",
        {"DashboardName": sub("auxeira-${Env}"), "DashboardBody": sub(body)},
    )
    return fragment


def _row(spec: MappingSpec) -> list[tuple[str, list[list[Any]]]]:
    fn = ["FunctionName", function_name(spec).replace("{env}", "${Env}")]
    emf = [part.replace("{env}", "${Env}") for pair in emf_dimension_pairs(spec) for part in pair]
    return [
        (
            "lag (ms)",
            [
                ["AWS/Lambda", "IteratorAge", *fn, {"stat": "Maximum", "label": "iterator age"}],
                [METRIC_NAMESPACE, "NewestAppliedAgeMs", *emf, {"stat": "Maximum", "label": "newest applied age"}],
            ],
        ),
        (
            "throughput (records/min)",
            [
                [METRIC_NAMESPACE, "Records", *emf, {"stat": "Sum", "label": "records"}],
                [METRIC_NAMESPACE, "Applied", *emf, {"stat": "Sum", "label": "applied"}],
                ["AWS/Lambda", "Invocations", *fn, {"stat": "Sum", "label": "invocations"}],
            ],
        ),
        (
            "failures",
            [
                ["AWS/Lambda", "Errors", *fn, {"stat": "Sum", "label": "errors"}],
                ["AWS/Lambda", "Throttles", *fn, {"stat": "Sum", "label": "throttles"}],
                [METRIC_NAMESPACE, "Retried", *emf, {"stat": "Sum", "label": "retried"}],
                [METRIC_NAMESPACE, "DeadLettered", *emf, {"stat": "Sum", "label": "dead-lettered"}],
            ],
        ),
    ]
