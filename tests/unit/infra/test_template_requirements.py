"""Issue 11's requirements the other infra tests leave open, asserted on the rendered templates.

The stream's mode, shards and retention as parameters; reserved concurrency; the buckets'
lifecycle; Redis and OpenSearch hardening; security-group rules; the dashboard; what each
alarm watches; and the policies the project checks do not reach (resource policies,
``Not*`` elements, wildcards inside ARNs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from infra.cloudformation.assemble import pipeline_template, templates
from infra.cloudformation.buckets import FAILURE_RECORDS_PREFIX
from infra.cloudformation.deployables import DEPLOYABLES, function_id, role_id
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.network import SUBNETS
from infra.policy_checks import UNSCOPED_ACTIONS
from schemas.resources import LAKE, MAPPINGS, REGISTRY, MappingSpec
from tests.unit.infra.cfn_values import SAMPLE, resolve, resources_of

TEMPLATE = pipeline_template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
TEMPLATES = templates()
_NO_VALUE = object()

#: An erasure must be complete within a month (UK GDPR art. 12(3)); S3 lifecycle acts up to
#: two days after an object becomes eligible.
ERASURE_WINDOW_DAYS = 30
LIFECYCLE_LAG_DAYS = 2
#: Services holding the pipeline's data: no allow statement may grant every action of one.
DATA_SERVICES = frozenset(
    {"s3", "dynamodb", "kinesis", "es", "elasticache", "glue", "athena", "secretsmanager", "sns", "logs"}
)
OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
_LOG_POLICY_SAMPLE = SAMPLE | {
    "SearchDomainLogGroup.Arn": f"arn:aws:logs:{SAMPLE['AWS::Region']}:{SAMPLE['AWS::AccountId']}:log-group:/aws/opensearch/auxeira-dev:*"
}


def _evaluate(value: Any, parameters: dict[str, Any], template: dict[str, Any] = TEMPLATE) -> Any:
    """``value`` with ``Ref`` to parameters, ``Fn::If``/``Fn::Equals``/``Fn::Not`` evaluated
    (every other parameter at its default); ``AWS::NoValue`` drops the property."""
    values = {name: p.get("Default") for name, p in template["Parameters"].items()} | parameters

    def condition(name: str) -> bool:
        return bool(ev(template["Conditions"][name]))

    def ev(v: Any) -> Any:
        if isinstance(v, list):
            return [x for x in (ev(i) for i in v) if x is not _NO_VALUE]
        if not isinstance(v, dict):
            return v
        if "Ref" in v:
            if v["Ref"] == "AWS::NoValue":
                return _NO_VALUE
            return values.get(v["Ref"], v)
        if "Fn::If" in v:
            name, then, otherwise = v["Fn::If"]
            return ev(then if condition(name) else otherwise)
        if "Fn::Equals" in v:
            left, right = (ev(x) for x in v["Fn::Equals"])
            return str(left) == str(right)
        if "Fn::Not" in v:
            return not ev(v["Fn::Not"][0])
        return {k: x for k, x in ((k, ev(x)) for k, x in v.items()) if x is not _NO_VALUE}

    return ev(value)


def _spec(consumer: str) -> MappingSpec:
    return next(s for s in MAPPINGS if s.consumer == consumer)


def _mappings_of(spec: MappingSpec) -> list[dict[str, Any]]:
    return [
        b["Properties"]
        for b in resources_of(TEMPLATE, "AWS::Lambda::EventSourceMapping").values()
        if b["Properties"]["FunctionName"] == {"Ref": function_id(spec)}
    ]


# -- (a) the Kinesis stream: mode, shards and retention as parameters ----------------------


def test_the_stream_runs_on_demand_or_provisioned_and_only_a_provisioned_stream_names_its_shards():
    stream = RESOURCES["EventsStream"]["Properties"]
    assert set(PARAMETERS["StreamMode"]["AllowedValues"]) == {"ON_DEMAND", "PROVISIONED"}
    assert PARAMETERS["StreamShardCount"]["Default"] == REGISTRY.stream.shard_count
    # GIVEN an on-demand deployment THEN the stream has no shard count (Kinesis refuses one on demand)
    on_demand = _evaluate(stream, {"StreamMode": "ON_DEMAND", "StreamShardCount": 7})
    assert on_demand["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in on_demand
    # GIVEN a provisioned deployment THEN the stream has the shards the parameter gives
    provisioned = _evaluate(stream, {"StreamMode": "PROVISIONED", "StreamShardCount": 7})
    assert provisioned["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert provisioned["ShardCount"] == 7


def test_the_stream_keeps_records_for_the_retention_parameter_from_kinesis_minimum_up():
    stream = RESOURCES["EventsStream"]["Properties"]
    retention = PARAMETERS["StreamRetentionHours"]
    assert retention["Default"] == REGISTRY.stream.retention_hours
    assert retention["MinValue"] == 24  # Kinesis keeps a record at least a day
    assert _evaluate(stream, {"StreamRetentionHours": 72})["RetentionPeriodHours"] == 72


# -- (b) reserved concurrency --------------------------------------------------------------


@pytest.mark.parametrize("spec", MAPPINGS, ids=lambda s: s.consumer)
def test_each_function_reserves_at_least_the_readers_its_mappings_start_and_0_unreserves_it(spec):
    function = RESOURCES[function_id(spec)]["Properties"]
    parameter = f"{spec.logical_name}ReservedConcurrency"
    # the readers Lambda starts: ParallelizationFactor per shard (a table stream: at least one shard)
    shards = PARAMETERS["StreamShardCount"]["Default"]
    readers = sum(
        m["ParallelizationFactor"] * (shards if m["EventSourceArn"] == {"Fn::GetAtt": ["EventsStream", "Arn"]} else 1)
        for m in _mappings_of(spec)
    )
    default = _evaluate(function, {})["ReservedConcurrentExecutions"]
    assert isinstance(default, int) and readers <= default <= PARAMETERS[parameter]["MaxValue"]
    assert _evaluate(function, {parameter: 25})["ReservedConcurrentExecutions"] == 25
    assert PARAMETERS[parameter]["MinValue"] == 0
    assert "ReservedConcurrentExecutions" not in _evaluate(function, {parameter: 0})


# -- (c) bucket lifecycle ------------------------------------------------------------------


def _rules(bucket: str) -> list[dict[str, Any]]:
    return RESOURCES[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]


def test_raw_events_move_to_infrequent_access_after_30_days_where_the_archiver_writes_them():
    [rule] = [r for r in _rules("LakeBucket") if r.get("Transitions")]
    assert rule["Status"] == "Enabled"
    assert rule["Prefix"] == f"{LAKE.raw}/"
    assert rule["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    archiver = RESOURCES[f"{role_id(_spec('archiver'))}Policy"]["Properties"]["PolicyDocument"]["Statement"]
    writes = next(s for s in archiver if s["Sid"] == "WriteLake")["Resource"]
    assert {"Fn::Sub": "${LakeBucket.Arn}/" + rule["Prefix"] + "*"} in writes
    assert DEPLOYABLES["archiver"].lake_prefixes == (rule["Prefix"],)


@pytest.mark.parametrize("bucket", ["LakeBucket", "FailuresBucket", "AthenaResultsBucket"])
def test_each_data_bucket_aborts_incomplete_uploads_and_expires_old_versions_within_the_erasure_window(bucket):
    properties = RESOURCES[bucket]["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    whole_bucket = [
        r for r in _rules(bucket) if r["Status"] == "Enabled" and not r.get("Prefix") and not r.get("Filter")
    ]
    aborts = [
        r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        for r in whole_bucket
        if "AbortIncompleteMultipartUpload" in r
    ]
    assert aborts and max(aborts) <= 7
    [noncurrent] = [
        r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in whole_bucket if "NoncurrentVersionExpiration" in r
    ]
    parameter = PARAMETERS[noncurrent["Ref"]]
    # whatever a deployment sets, an erased object's old versions are gone within the window
    assert parameter["MaxValue"] + LIFECYCLE_LAG_DAYS <= ERASURE_WINDOW_DAYS
    assert parameter["MinValue"] <= parameter["Default"] <= parameter["MaxValue"]


# -- (d) Redis and OpenSearch --------------------------------------------------------------


def test_redis_requires_tls_in_transit_an_auth_token_and_encrypts_at_rest_with_the_pipeline_key():
    redis = RESOURCES["CacheReplicationGroup"]["Properties"]
    assert redis["TransitEncryptionEnabled"] is True
    assert redis["TransitEncryptionMode"] == "required"  # "preferred" would still accept plain connections
    assert redis["AtRestEncryptionEnabled"] is True
    assert redis["KmsKeyId"] == KEY_ARN
    assert redis["AuthToken"] == {"Fn::Sub": "{{resolve:secretsmanager:${CacheAuthSecret}:SecretString:token}}"}
    # the token: generated (never in the template), encrypted with the pipeline key, valid for ElastiCache AUTH
    secret = RESOURCES["CacheAuthSecret"]["Properties"]
    assert secret["KmsKeyId"] == KEY_ARN
    generated = secret["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "token"
    assert 16 <= generated["PasswordLength"] <= 128
    assert generated["ExcludePunctuation"] is True  # AUTH refuses / " @
    assert redis["CacheSubnetGroupName"] == {"Ref": "CacheSubnetGroup"}
    assert RESOURCES["CacheSubnetGroup"]["Properties"]["SubnetIds"] == [{"Ref": s} for s in SUBNETS]


def test_opensearch_is_in_the_private_subnets_encrypted_https_only_with_iam_fine_grained_access():
    domain = RESOURCES["SearchDomain"]["Properties"]
    assert domain["VPCOptions"] == {
        "SubnetIds": [{"Ref": s} for s in SUBNETS],
        "SecurityGroupIds": [{"Ref": "SearchSecurityGroup"}],
    }
    assert domain["EncryptionAtRestOptions"] == {"Enabled": True, "KmsKeyId": KEY_ARN}
    assert domain["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert domain["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert domain["DomainEndpointOptions"]["TLSSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    security = domain["AdvancedSecurityOptions"]
    assert security["Enabled"] is True
    # no internal users with passwords: the master user and every user are IAM roles (SigV4)
    assert security["InternalUserDatabaseEnabled"] is False
    master = _evaluate(security["MasterUserOptions"]["MasterUserARN"], {"SearchAdminRoleArn": ""})
    assert master == {"Fn::GetAtt": [role_id(_spec("search")), "Arn"]}
    statements = _evaluate(domain["AccessPolicies"]["Statement"], {"SearchAdminRoleArn": ""})
    assert [s["Principal"] for s in statements] == [{"AWS": [{"Fn::GetAtt": [role_id(_spec("search")), "Arn"]}]}]


# -- (e) security groups -------------------------------------------------------------------


def _rules_of(template: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(resource, group, direction, rule) for every rule, inline or a resource of its own."""
    for name, body in template["Resources"].items():
        p = body.get("Properties", {})
        if body["Type"] == "AWS::EC2::SecurityGroup":
            for direction, key in (("ingress", "SecurityGroupIngress"), ("egress", "SecurityGroupEgress")):
                for rule in p.get(key) or []:
                    yield name, name, direction, rule
        elif body["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            direction = "ingress" if body["Type"].endswith("Ingress") else "egress"
            group = p.get("GroupId", {}).get("Fn::GetAtt", [None])[0] or p.get("GroupId", {}).get("Ref")
            yield name, group, direction, p


def _peer(rule: dict[str, Any]) -> Any:
    for key in ("SourceSecurityGroupId", "DestinationSecurityGroupId"):
        if key in rule:
            return rule[key]["Fn::GetAtt"][0]
    return rule.get("CidrIp") or rule.get("CidrIpv6") or rule.get("DestinationPrefixListId")


def _allowed(group: str, direction: str) -> set[tuple[Any, ...]]:
    """What a group lets through, without the rule that matches nothing (EC2's allow-all egress stays off)."""
    return {
        (r["IpProtocol"], r["FromPort"], r["ToPort"], _peer(r))
        for _, g, d, r in _rules_of(TEMPLATE)
        if g == group and d == direction and r.get("CidrIp") != "255.255.255.255/32"
    }


def test_redis_and_opensearch_admit_only_the_consumers_group_on_their_own_port_and_send_nothing():
    redis_port = RESOURCES["CacheReplicationGroup"]["Properties"]["Port"]
    assert RESOURCES["CacheReplicationGroup"]["Properties"]["SecurityGroupIds"] == [
        {"Fn::GetAtt": ["CacheSecurityGroup", "GroupId"]}
    ]
    assert _allowed("CacheSecurityGroup", "ingress") == {("tcp", redis_port, redis_port, "ConsumersSecurityGroup")}
    assert _allowed("SearchSecurityGroup", "ingress") == {("tcp", 443, 443, "ConsumersSecurityGroup")}
    for store in ("CacheSecurityGroup", "SearchSecurityGroup"):
        assert _allowed(store, "egress") == set()
        # an explicit egress list, or EC2 would add allow-all egress to the group
        assert RESOURCES[store]["Properties"]["SecurityGroupEgress"]


def test_the_consumers_group_takes_no_connection_and_reaches_only_the_stores_ports_and_https_out():
    redis_port = RESOURCES["CacheReplicationGroup"]["Properties"]["Port"]
    assert _allowed("ConsumersSecurityGroup", "ingress") == set()
    assert _allowed("ConsumersSecurityGroup", "egress") == {
        ("tcp", redis_port, redis_port, "CacheSecurityGroup"),
        ("tcp", 443, 443, "SearchSecurityGroup"),
        ("tcp", 443, 443, "0.0.0.0/0"),
    }
    in_vpc = [s for s in MAPPINGS if "VpcConfig" in RESOURCES[function_id(s)]["Properties"]]
    assert sorted(s.consumer for s in in_vpc) == ["cache", "search"]
    for spec in in_vpc:
        assert RESOURCES[function_id(spec)]["Properties"]["VpcConfig"] == {
            "SubnetIds": [{"Ref": s} for s in SUBNETS],
            "SecurityGroupIds": [{"Fn::GetAtt": ["ConsumersSecurityGroup", "GroupId"]}],
        }


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_only_open_cidr_rule_is_https_to_the_gateway_endpoints_and_says_so_in_the_template(name):
    open_rules = [(r, rule) for r, _, _, rule in _rules_of(TEMPLATES[name]) if _peer(rule) in OPEN_CIDRS]
    if name != "pipeline.yaml":
        assert open_rules == []
        return
    [(resource, rule)] = open_rules
    assert (resource, rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("ConsumersToS3Egress", "tcp", 443, 443)
    # a security group cannot name the endpoints' managed prefix lists without a lookup: the reason is written down
    assert re.search(r"S3 and DynamoDB through the gateway endpoints", rule["Description"])
    assert "no other route out" in rule["Description"]


def test_the_open_https_egress_can_reach_nothing_but_the_s3_and_dynamodb_gateway_endpoints():
    # the justification of 0.0.0.0/0:443: the VPC has no way out but the gateway endpoints
    ways_out = {
        "AWS::EC2::InternetGateway",
        "AWS::EC2::EgressOnlyInternetGateway",
        "AWS::EC2::NatGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::VPNGateway",
        "AWS::EC2::TransitGatewayAttachment",
        "AWS::EC2::VPCPeeringConnection",
        "AWS::EC2::Route",
    }
    assert {b["Type"] for b in RESOURCES.values()} & ways_out == set()
    endpoints = resources_of(TEMPLATE, "AWS::EC2::VPCEndpoint").values()
    assert sorted(resolve(e["Properties"]["ServiceName"]) for e in endpoints) == [
        f"com.amazonaws.{SAMPLE['AWS::Region']}.dynamodb",
        f"com.amazonaws.{SAMPLE['AWS::Region']}.s3",
    ]
    for endpoint in endpoints:
        assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
        assert endpoint["Properties"]["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]
    for subnet in SUBNETS:
        assert RESOURCES[subnet]["Properties"]["MapPublicIpOnLaunch"] is False
        assert RESOURCES[f"{subnet}RouteTableAssociation"]["Properties"]["RouteTableId"] == {"Ref": "PrivateRouteTable"}


# -- (f) the dashboard ---------------------------------------------------------------------


def _widgets() -> dict[str, list[list[Any]]]:
    body = json.loads(resolve(RESOURCES["PipelineDashboard"]["Properties"]["DashboardBody"]))
    return {w["properties"]["title"]: w["properties"]["metrics"] for w in body["widgets"]}


def _emitted(consumer: str, capsys: pytest.CaptureFixture[str]) -> tuple[str, set[str], dict[str, str]]:
    """Namespace, metric names and dimensions of what the deployed handler emits for one batch."""
    from auxeira.runtime.observability import BatchReport, PowertoolsObserver
    from auxeira.runtime.sinks import BatchStats

    capsys.readouterr()
    stats = BatchStats(records=2, applied=1, dead_lettered=1, newest_applied_age_ms=5)
    PowertoolsObserver(consumer, env="dev")(BatchReport(consumer, "s", "1", "2", stats))
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line][-1]
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    return (
        directive["Namespace"],
        {m["Name"] for m in directive["Metrics"]},
        {name: emf[name] for name in directive["Dimensions"][0]},
    )


def _series(metric: list[Any]) -> tuple[str, str, dict[str, Any]]:
    namespace, name, *rest = metric
    pairs = [x for x in rest if not isinstance(x, dict)]
    return namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))


@pytest.mark.parametrize("spec", MAPPINGS, ids=lambda s: s.consumer)
def test_the_dashboard_shows_each_consumers_iterator_age_and_throughput_as_deployed(spec, capsys):
    widgets = _widgets()
    function = {"FunctionName": resolve(RESOURCES[function_id(spec)]["Properties"]["FunctionName"])}
    namespace, names, dimensions = _emitted(spec.consumer, capsys)
    lag = [_series(m) for m in widgets[f"{spec.consumer}: lag (ms)"]]
    assert ("AWS/Lambda", "IteratorAge", function) in lag
    throughput = [_series(m) for m in widgets[f"{spec.consumer}: throughput (records/min)"]]
    assert ("AWS/Lambda", "Invocations", function) in throughput
    # the handler's own counts, with exactly the dimensions it emits them with
    assert (namespace, "Records", dimensions) in throughput
    assert (namespace, "Applied", dimensions) in throughput
    assert {"Records", "Applied"} <= names


# -- (g) what each alarm watches -----------------------------------------------------------


def _alarm(logical_id: str) -> dict[str, Any]:
    alarm = RESOURCES[logical_id]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] and alarm["ActionsEnabled"] is True
    return alarm


def _dimensions(dimensions: list[dict[str, Any]]) -> dict[str, Any]:
    return {d["Name"]: resolve(d["Value"]) for d in dimensions}


@pytest.mark.parametrize("spec", MAPPINGS, ids=lambda s: s.consumer)
def test_each_consumers_lag_retention_error_and_throttle_alarms_watch_its_own_function(spec):
    function = {"FunctionName": resolve(RESOURCES[function_id(spec)]["Properties"]["FunctionName"])}
    for suffix, threshold, operator in (
        ("IteratorAge", "IteratorAgeAlarmMinutes", "GreaterThanThreshold"),
        ("RetentionLoss", "RetentionLossAlarmHours", "LessThanThreshold"),
    ):
        alarm = _alarm(f"{spec.logical_name}{suffix}Alarm")
        [stat] = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"]) == (
            "AWS/Lambda",
            "IteratorAge",
            "Maximum",
        )
        assert _dimensions(stat["Metric"]["Dimensions"]) == function
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == ({"Ref": threshold}, operator)
        assert [m["Id"] for m in alarm["Metrics"] if m.get("ReturnData")] != []
    for metric in ("Errors", "Throttles"):
        alarm = _alarm(f"{spec.logical_name}{metric}Alarm")
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", metric, "Sum")
        assert _dimensions(alarm["Dimensions"]) == function
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


@pytest.mark.parametrize("spec", MAPPINGS, ids=lambda s: s.consumer)
def test_each_consumers_dead_letter_alarm_counts_what_its_handler_emits(spec, capsys):
    namespace, names, dimensions = _emitted(spec.consumer, capsys)
    alarm = _alarm(f"{spec.logical_name}DeadLettersAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, "DeadLettered")
    assert "DeadLettered" in names
    assert _dimensions(alarm["Dimensions"]) == dimensions
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_failure_records_alarm_counts_the_objects_lambda_writes_to_the_on_failure_bucket():
    alarm = _alarm("FailureRecordsAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/S3", "PutRequests")
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions["BucketName"] == {"Ref": "FailuresBucket"}
    # S3 publishes request metrics only for a filter the bucket declares: the one on Lambda's prefix
    filters = RESOURCES["FailuresBucket"]["Properties"]["MetricsConfigurations"]
    assert {"Id": dimensions["FilterId"], "Prefix": FAILURE_RECORDS_PREFIX} in filters
    assert FAILURE_RECORDS_PREFIX == "aws/lambda/"
    for mapping in resources_of(TEMPLATE, "AWS::Lambda::EventSourceMapping").values():
        assert mapping["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["FailuresBucket", "Arn"]
        }
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_glue_failure_alarms_watch_the_rule_that_matches_the_failed_jobs():
    rule = resolve(RESOURCES["GlueJobFailureRule"]["Properties"]["Name"])
    for name, metric in (
        ("GlueJobFailureAlarm", "TriggeredRules"),
        ("GlueJobFailureDeliveryAlarm", "FailedInvocations"),
    ):
        alarm = _alarm(name)
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Events", metric)
        assert _dimensions(alarm["Dimensions"]) == {"RuleName": rule}
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


# -- (h) policies the project checks do not reach ------------------------------------------

_IDENTITY = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def _statements_of(document: Any) -> Iterator[dict[str, Any]]:
    for s in document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]:
        if isinstance(s, dict) and "Fn::If" in s:
            yield from (b for b in s["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"})
        else:
            yield s


def _documents(value: Any) -> Iterator[dict[str, Any]]:
    """Every policy document under ``value``, a JSON string in ``Fn::Sub`` (a logs resource policy) included."""
    if isinstance(value, dict):
        if "Statement" in value:
            yield value
            return
        if isinstance(value.get("Fn::Sub"), str) and value["Fn::Sub"].lstrip().startswith('{"Version"'):
            yield json.loads(resolve(value, _LOG_POLICY_SAMPLE))
            return
        for v in value.values():
            yield from _documents(v)
    elif isinstance(value, list):
        for v in value:
            yield from _documents(v)


def _policies() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(template, resource, kind, statement): kind is identity, trust or resource."""
    for name, template in TEMPLATES.items():
        for resource, body in template["Resources"].items():
            properties = body.get("Properties", {})
            if body["Type"] == "AWS::IAM::Role":
                for s in _statements_of(properties["AssumeRolePolicyDocument"]):
                    yield name, resource, "trust", s
                properties = {k: v for k, v in properties.items() if k != "AssumeRolePolicyDocument"}
            kind = "identity" if body["Type"] in _IDENTITY else "resource"
            for document in _documents(properties):
                for s in _statements_of(document):
                    yield name, resource, kind, s


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_policy_walk_reaches_every_kind_of_policy_the_templates_hold():
    types = {TEMPLATES[t]["Resources"][r]["Type"] for t, r, _, _ in _policies()}
    assert types >= {
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::KMS::Key",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::EC2::VPCEndpoint",
        "AWS::OpenSearchService::Domain",
        "AWS::Logs::ResourcePolicy",
    }


def test_no_policy_allows_by_exclusion():
    # NotAction / NotResource / NotPrincipal in an allow grants everything it does not name,
    # and the project's wildcard checks read Action and Resource only.
    found = [
        (t, r, s.get("Sid"), key)
        for t, r, _, s in _policies()
        if s["Effect"] == "Allow"
        for key in ("NotAction", "NotResource", "NotPrincipal")
        if key in s
    ]
    assert found == []


def test_no_resource_policy_allows_every_action_of_a_data_service_or_anyone_on_everything():
    # (identity policies: the no-wildcard-actions and scoped-resources checks)
    for template, resource, kind, s in _policies():
        if kind != "resource" or s["Effect"] != "Allow":
            continue
        actions = _as_list(s["Action"])
        assert "*" not in actions, (template, resource, s.get("Sid"))
        assert not [a for a in actions if a.split(":")[0] in DATA_SERVICES and a.endswith(":*")], (resource, s)
        if "kms:*" in actions:
            # AWS's default key policy: the account delegates the key to IAM, where the checks apply
            assert (resource, s["Sid"]) == ("PipelineKey", "AccountAdministersAndDelegatesThroughIam")
            assert s["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
        if s.get("Principal") == "*" or "*" in _as_list((s.get("Principal") or {}).get("AWS", [])):
            assert "*" not in _as_list(s["Resource"]), (resource, s)


_WILDCARD_TYPES = ("log-group", "table", "stream", "domain", "key", "secret", "database", "function", "topic")
#: Actions that authorize on a resource type, not on one resource: a wildcard over the type is their only scope.
_TYPE_WIDE_ACTIONS = frozenset({"logs:DescribeLogGroups"})
_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def test_every_arn_an_identity_policy_names_is_this_stacks_and_wildcards_only_below_a_named_resource():
    for template, resource, kind, s in _policies():
        if kind != "identity" or s["Effect"] != "Allow":
            continue
        names = set(TEMPLATES[template]["Resources"]) | set(TEMPLATES[template].get("Parameters", {}))
        for arn in _as_list(s["Resource"]):
            where = (resource, s.get("Sid"), arn)
            if arn == "*":
                assert set(_as_list(s["Action"])) <= UNSCOPED_ACTIONS, where
                continue
            if "Ref" in arn or "Fn::GetAtt" in arn:
                target = arn.get("Ref") or arn["Fn::GetAtt"][0]
                assert target in names, where
                continue
            text = arn["Fn::Sub"]
            # every name in it is the stack's: its resources, parameters, or the account and region
            for variable in _VARIABLE.findall(text):
                assert variable.split(".")[0] in names | {"AWS::Partition", "AWS::Region", "AWS::AccountId"}, where
            assert text.startswith(("arn:${AWS::Partition}:", "${")), where
            plain = text
            for pseudo, stand_in in (("Partition", "aws"), ("Region", "REGION"), ("AccountId", "ACCOUNT")):
                plain = plain.replace(f"${{AWS::{pseudo}}}", stand_in)
            fields = plain.split(":", 5)
            if plain.startswith("arn:") and fields[2] != "s3":
                assert fields[3:5] == ["REGION", "ACCOUNT"], where  # this stack's region and account, never any
            assert "*" not in text[:-1], where  # one wildcard at most, at the end
            if plain.startswith("arn:") and plain.endswith("*"):
                # the wildcard must follow a named resource (a bucket's prefix, a log group's streams,
                # a database's tables), not stand for every resource of a type
                named = fields[5][:-1]
                type_wide = named == "" or re.fullmatch(rf"(?:{'|'.join(_WILDCARD_TYPES)})[:/]", named)
                assert not type_wide or set(_as_list(s["Action"])) <= _TYPE_WIDE_ACTIONS, where
