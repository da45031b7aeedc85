"""The pipeline template mirrors the registry: tables, stream, mappings, functions, roles, alarms."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from infra.cloudformation.assemble import pipeline_template
from infra.cloudformation.deployables import DEPLOYABLES, Store, function_id, role_id
from infra.cloudformation.render import dump
from infra.cloudformation.tables import table_logical_id
from infra.tables import create_table_request
from schemas.resources import MAPPINGS, REGISTRY, MappingSpec
from schemas.tables import Gsi, KeyStyle, TableSpec
from tests.unit.infra.cfn_values import resolve, resources_of

TEMPLATE = pipeline_template()
RESOURCES = TEMPLATE["Resources"]


@pytest.mark.parametrize("spec", REGISTRY.tables, ids=lambda s: s.physical_name("x"))
def test_every_registry_table_is_rendered_as_the_local_stack_creates_it_plus_what_only_aws_has(spec):
    table = RESOURCES[table_logical_id(spec)]
    props = table["Properties"]
    local = create_table_request(spec, "dev")
    # the same key schema, attributes and indexes as the local stack's CreateTable
    assert resolve(props["TableName"]) == spec.physical_name("dev")
    assert (props["KeySchema"], props["AttributeDefinitions"]) == (local["KeySchema"], local["AttributeDefinitions"])
    assert props.get("GlobalSecondaryIndexes", []) == local.get("GlobalSecondaryIndexes", [])
    # source tables stream both images; the pipeline's own tables never stream
    assert props.get("StreamSpecification") == ({"StreamViewType": spec.stream_view} if spec.stream_view else None)
    assert props.get("TimeToLiveSpecification") == (
        {"AttributeName": spec.ttl_attr, "Enabled": True} if spec.ttl_attr else None
    )
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": ["PipelineKey", "Arn"]},
    }
    assert props["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_internal_tables_have_no_stream_and_the_counters_index_is_keys_only():
    counters = RESOURCES["AuxeiraCountersTable"]["Properties"]
    assert [g["Projection"] for g in counters["GlobalSecondaryIndexes"]] == [{"ProjectionType": "KEYS_ONLY"}]
    for spec in REGISTRY.internal_tables:
        assert "StreamSpecification" not in RESOURCES[table_logical_id(spec)]["Properties"]


def test_the_router_reads_every_source_table_stream_and_each_consumer_the_events_stream_once():
    mappings = resources_of(TEMPLATE, "AWS::Lambda::EventSourceMapping")
    by_function: dict[str, list[dict]] = {}
    for body in mappings.values():
        by_function.setdefault(body["Properties"]["FunctionName"]["Ref"], []).append(body["Properties"])
    router = by_function.pop("RouterFunction")
    assert sorted(p["EventSourceArn"]["Fn::GetAtt"][0] for p in router) == sorted(
        table_logical_id(t) for t in REGISTRY.source_tables
    )
    assert {p["EventSourceArn"]["Fn::GetAtt"][1] for p in router} == {"StreamArn"}
    assert sorted(by_function) == sorted(function_id(s) for s in MAPPINGS if s.source == "kinesis")
    for props in (p for ps in by_function.values() for p in ps):
        assert props["EventSourceArn"] == {"Fn::GetAtt": ["EventsStream", "Arn"]}


@pytest.mark.parametrize("spec", MAPPINGS, ids=lambda s: s.consumer)
def test_each_mapping_carries_its_spec_and_waits_for_its_permissions_and_log_group(spec):
    mapping = next(
        b
        for b in resources_of(TEMPLATE, "AWS::Lambda::EventSourceMapping").values()
        if b["Properties"]["FunctionName"] == {"Ref": function_id(spec)}
    )
    props = mapping["Properties"]
    assert (props["BatchSize"], props["ParallelizationFactor"], props["MaximumBatchingWindowInSeconds"]) == (
        spec.batch_size,
        spec.parallelization_factor,
        spec.maximum_batching_window_seconds,
    )
    assert (props["MaximumRetryAttempts"], props["MaximumRecordAgeInSeconds"]) == (
        spec.maximum_retry_attempts,
        spec.maximum_record_age_seconds,
    )
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailuresBucket", "Arn"]}}}
    assert set(mapping["DependsOn"]) == {f"{role_id(spec)}Policy", f"{spec.logical_name}FunctionLogGroup"}


def test_counters_and_the_archiver_read_each_shard_in_order():
    for name in ("CountersFunction", "ArchiverFunction"):
        for body in resources_of(TEMPLATE, "AWS::Lambda::EventSourceMapping").values():
            if body["Properties"]["FunctionName"] == {"Ref": name}:
                assert body["Properties"]["ParallelizationFactor"] == 1


@pytest.mark.parametrize("spec", MAPPINGS, ids=lambda s: s.consumer)
def test_every_function_has_its_own_role_log_group_tracing_and_runs_its_handler(spec):
    function = RESOURCES[function_id(spec)]
    props = function["Properties"]
    assert props["Handler"] == spec.handler
    assert props["Role"] == {"Fn::GetAtt": [role_id(spec), "Arn"]}
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert function["DependsOn"] == [f"{role_id(spec)}Policy"]
    log_group = RESOURCES[f"{spec.logical_name}FunctionLogGroup"]["Properties"]
    assert log_group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function_id(spec)}}}"}
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    policy = RESOURCES[f"{role_id(spec)}Policy"]["Properties"]
    assert policy["Roles"] == [{"Ref": role_id(spec)}]
    assert ("VpcConfig" in props) == bool(DEPLOYABLES[spec.consumer].stores & {Store.CACHE, Store.SEARCH})


def _statements(spec: MappingSpec) -> dict[str, dict]:
    document = RESOURCES[f"{role_id(spec)}Policy"]["Properties"]["PolicyDocument"]
    return {s["Sid"]: s for s in document["Statement"]}


def test_each_role_writes_only_its_own_dead_letters_and_its_own_stores():
    for spec in MAPPINGS:
        statements = _statements(spec)
        assert resolve(statements["OwnDeadLetters"]["Resource"]).endswith(f"/dlq/{spec.consumer}/*")
        assert ("PutEvents" in statements) == (spec.consumer == "router")
        assert ("WriteCounters" in statements) == (spec.consumer == "counters")
        assert ("IndexAndSearch" in statements) == (spec.consumer == "search")
    counters = _statements(next(s for s in MAPPINGS if s.consumer == "counters"))["WriteCounters"]
    assert counters["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert counters["Resource"] == {"Fn::GetAtt": ["AuxeiraCountersTable", "Arn"]}
    for spec in MAPPINGS:
        # the consumers whose store carries an epoch keep its copy in the checkpoints table
        epochs = _statements(spec).get("StoreEpochs")
        assert (epochs is not None) == (spec.consumer in ("cache", "search", "counters"))
        if epochs:
            assert epochs["Resource"] == {"Fn::GetAtt": ["AuxeiraCheckpointsTable", "Arn"]}


def test_what_a_function_in_the_vpc_may_do_on_s3_and_dynamodb_its_gateway_endpoints_let_through():
    # The subnets have no route out but the endpoints: a grant the endpoint refuses would time out.
    endpoints = {
        r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]: r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources_of(TEMPLATE, "AWS::EC2::VPCEndpoint").values()
    }

    def admitted(service: str, action: str, resource: object) -> bool:
        for s in endpoints.get(service, []):
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            if action in s["Action"] and any(_covers(r, resource) for r in resources):
                return True
        return False

    for spec in MAPPINGS:
        if "VpcConfig" not in RESOURCES[function_id(spec)]["Properties"]:
            continue
        for statement in _statements(spec).values():
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in statement["Action"]:
                service = action.split(":")[0]
                if service == "dynamodb" or (service == "s3" and "Lake" in json.dumps(resources)):
                    assert all(admitted(service, action, r) for r in resources), (spec.consumer, action, resources)


def _covers(granted: object, wanted: object) -> bool:
    granted_text, wanted_text = resolve(granted), resolve(wanted)
    return wanted_text == granted_text or (granted_text.endswith("*") and wanted_text.startswith(granted_text[:-1]))


def test_the_router_may_read_exactly_the_source_table_streams():
    router = _statements(next(s for s in MAPPINGS if s.consumer == "router"))
    assert sorted(r["Fn::GetAtt"][0] for r in router["ReadTableStreams"]["Resource"]) == sorted(
        table_logical_id(t) for t in REGISTRY.source_tables
    )


def test_the_stream_retention_cannot_outlast_the_cache_tombstones():
    # A delete's tombstone must outlive every record that could still arrive after it (README).
    from auxeira.runtime.settings import CacheSettings

    tombstone_hours = CacheSettings.model_fields["tombstone_ttl_seconds"].default // 3600
    assert TEMPLATE["Parameters"]["StreamRetentionHours"]["MaxValue"] <= tombstone_hours


def test_every_consumer_has_lag_retention_loss_error_throttle_and_dead_letter_alarms():
    alarms = {resolve(b["Properties"]["AlarmName"]) for b in resources_of(TEMPLATE, "AWS::CloudWatch::Alarm").values()}
    for spec in MAPPINGS:
        for kind in ("iterator-age", "retention-loss", "errors", "throttles", "dead-letters"):
            assert f"auxeira-dev-{spec.consumer}-{kind}" in alarms
    assert "auxeira-dev-failure-records" in alarms


def test_time_to_retention_loss_uses_each_sources_retention():
    alarms = resources_of(TEMPLATE, "AWS::CloudWatch::Alarm")
    expressions = {
        resolve(b["Properties"]["AlarmName"]): next(m for m in b["Properties"]["Metrics"] if "Expression" in m)[
            "Expression"
        ]
        for b in alarms.values()
        if "retention-loss" in str(b["Properties"]["AlarmName"])
    }
    assert expressions["auxeira-dev-router-retention-loss"] == "(24 * 3600000 - age) / 3600000"
    assert expressions["auxeira-dev-cache-retention-loss"] == {
        "Fn::Sub": "(${StreamRetentionHours} * 3600000 - age) / 3600000"
    }


def test_the_dead_letter_alarm_dimensions_are_the_ones_the_handlers_emit(capsys):
    # GIVEN the metrics a deployed handler emits for one batch (EMF on stdout)
    from auxeira.runtime.observability import BatchReport, PowertoolsObserver
    from auxeira.runtime.sinks import BatchStats

    PowertoolsObserver("cache", env="dev")(BatchReport("cache", "s", "1", "2", BatchStats()))
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line][-1]
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    emitted = {name: emf[name] for name in directive["Dimensions"][0]}
    # WHEN the cache's dead-letter alarm is rendered THEN it watches exactly that metric
    alarm = RESOURCES["CacheDeadLettersAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (directive["Namespace"], "DeadLettered")
    assert {d["Name"]: resolve(d["Value"]) for d in alarm["Dimensions"]} == emitted


def test_the_store_reset_alarm_watches_the_metric_the_epoch_guard_emits(capsys):
    from auxeira.runtime.epochs import EpochCheck, EpochState
    from auxeira.runtime.observability import PowertoolsObserver

    PowertoolsObserver("search", env="dev").store_reset(EpochCheck("search", EpochState.RESET))
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line][-1]
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    alarm = RESOURCES["SearchStoreResetAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (directive["Namespace"], directive["Metrics"][0]["Name"])
    assert {d["Name"]: resolve(d["Value"]) for d in alarm["Dimensions"]} == {
        name: emf[name] for name in directive["Dimensions"][0]
    }
    assert "RouterStoreResetAlarm" not in RESOURCES


def test_adding_a_table_to_the_registry_adds_its_table_its_router_mapping_and_its_stream_grant():
    # GIVEN the registry with one more source table
    extra = TableSpec(
        name="badges", style=KeyStyle.PK_SK, entities=(), gsis=(Gsi("TenantIndex", ("tenant_id", "S"), ("PK", "S")),)
    )
    registry = dataclasses.replace(REGISTRY, source_tables=(*REGISTRY.source_tables, extra))
    # WHEN the template is rendered from it
    template = pipeline_template(registry)
    # THEN the table, the router's mapping of its stream and the router's right to read it appear
    assert (
        template["Resources"]["AuxeiraBadgesTable"]["Properties"]["GlobalSecondaryIndexes"][0]["IndexName"]
        == "TenantIndex"
    )
    assert "RouterAuxeiraBadgesMapping" in template["Resources"]
    streams = template["Resources"]["RouterFunctionRolePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {"Fn::GetAtt": ["AuxeiraBadgesTable", "StreamArn"]} in next(
        s for s in streams if s["Sid"] == "ReadTableStreams"
    )["Resource"]
    assert dump(template) != dump(TEMPLATE)


def test_a_consumer_without_a_deployable_cannot_be_rendered():
    # GIVEN a mapping nobody declared the stores of
    registry = dataclasses.replace(
        REGISTRY,
        mappings=(*REGISTRY.mappings, MappingSpec("pigeons", "consumers.handlers.pigeons.handler", "kinesis", 10)),
    )
    # WHEN the template is rendered THEN it refuses, naming the consumer
    with pytest.raises(KeyError, match="pigeons"):
        pipeline_template(registry)


def test_rendering_is_deterministic():
    assert dump(pipeline_template()) == dump(pipeline_template())


def test_every_parameter_is_described_in_the_template_and_in_the_deploy_guide():
    guide = (Path(__file__).resolve().parents[3] / "docs" / "deploy.md").read_text()
    for name, parameter in TEMPLATE["Parameters"].items():
        assert parameter.get("Description"), name
        assert f"`{name}`" in guide, f"docs/deploy.md does not explain {name}"


def test_every_literal_tag_value_uses_only_the_characters_aws_allows():
    # S3, DynamoDB, Lambda and the rest refuse a tag value outside this set at deploy time.
    import re

    from infra.cloudformation.assemble import templates

    allowed = re.compile(r"^[\w\s+=.:/@-]*$")
    for template in templates().values():
        for name, body in template["Resources"].items():
            for tag in body["Properties"].get("Tags") or []:
                if isinstance(tag, dict) and isinstance(tag.get("Value"), str):
                    assert allowed.match(tag["Value"]), (name, tag)
