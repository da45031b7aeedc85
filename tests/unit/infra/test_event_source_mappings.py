"""The deployed mapping settings come from the registry, with no infinite retries and an S3 failure destination."""

from __future__ import annotations

import pytest

from infra.cloudformation.event_source_mappings import event_source_mapping_resources, mapping_properties
from schemas.resources import MAPPINGS, MappingSpec, mapping


def test_counters_reads_each_shard_with_one_ordered_batch_stream():
    # The counters watermark assumes in-order processing per shard.
    assert mapping("counters").parallelization_factor == 1


def test_every_rendered_mapping_is_finite_bisecting_reports_failures_and_keeps_payloads_in_s3():
    for spec in MAPPINGS:
        props = mapping_properties(spec, "fn", "arn", "arn:aws:s3:::failures")
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 0 <= props["MaximumRetryAttempts"] <= 10_000
        assert 60 <= props["MaximumRecordAgeInSeconds"] <= 604_800
        assert props["BisectBatchOnFunctionError"] is True
        assert props["DestinationConfig"] == {"OnFailure": {"Destination": "arn:aws:s3:::failures"}}
        assert (props["BatchSize"], props["ParallelizationFactor"]) == (spec.batch_size, spec.parallelization_factor)


@pytest.mark.parametrize(
    "field, value",
    [
        ("maximum_retry_attempts", -1),
        ("maximum_record_age_seconds", -1),
        ("batch_size", 0),
        ("parallelization_factor", 11),
    ],
)
def test_a_spec_with_infinite_retries_or_out_of_range_settings_is_refused(field, value):
    with pytest.raises(ValueError, match="must be"):
        MappingSpec("x", "h.handler", "kinesis", **{"batch_size": 10, field: value})


def test_router_gets_one_mapping_per_table_stream_and_consumers_one_each():
    resources = event_source_mapping_resources("events-arn", {"users": "u-arn", "startups": "s-arn"}, "bucket")
    router = [r for name, r in resources.items() if name.startswith("Router")]
    assert sorted(r["Properties"]["EventSourceArn"] for r in router) == ["s-arn", "u-arn"]
    consumers = [r for name, r in resources.items() if not name.startswith("Router")]
    assert {r["Properties"]["EventSourceArn"] for r in consumers} == {"events-arn"}
    assert len(consumers) == len(MAPPINGS) - 1
