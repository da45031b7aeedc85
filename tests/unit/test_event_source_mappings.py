"""The deployed mapping settings and the local runner agree, and counters read each shard in order."""

from __future__ import annotations

from schemas.resources import MAPPINGS, cloudformation_resources, mapping


def test_counters_reads_each_shard_with_one_ordered_batch_stream():
    # The counters watermark assumes in-order processing per shard.
    assert mapping("counters").parallelization_factor == 1


def test_every_mapping_reports_batch_item_failures_and_respects_lambda_limits():
    for spec in MAPPINGS:
        props = spec.properties("fn", "arn")
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 1 <= props["BatchSize"] <= 10_000
        assert 1 <= props["ParallelizationFactor"] <= 10


def test_router_gets_one_mapping_per_table_stream_and_consumers_one_each():
    resources = cloudformation_resources("events-arn", {"auxeira-users-prod": "u-arn", "auxeira-startups-prod": "s-arn"})
    router = [r for name, r in resources.items() if name.startswith("Router")]
    assert sorted(r["Properties"]["EventSourceArn"] for r in router) == ["s-arn", "u-arn"]
    consumers = [r for name, r in resources.items() if not name.startswith("Router")]
    assert {r["Properties"]["EventSourceArn"] for r in consumers} == {"events-arn"}
    assert len(consumers) == len(MAPPINGS) - 1
