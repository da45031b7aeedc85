"""The Kinesis events stream, encrypted with the pipeline's key.

Its name, default shard count and retention come from the registry's
:class:`~schemas.resources.StreamSpec`; mode, shards and retention are parameters, so
production can run on demand or provisioned without another template. The stream is
transient (a day of records by default), so unlike the tables it is not retained when its
stack is deleted: nothing should outlive the pipeline that reads it.
"""

from __future__ import annotations

from auxeira.runtime.settings import CacheSettings
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.model import NO_VALUE, Fragment, get_att, if_, ref, sub
from infra.cloudformation.parameters import named, number
from schemas.resources import REGISTRY, Registry

__all__ = ["RETENTION_HOURS", "STREAM", "STREAM_ARN", "events_stream", "max_retention_hours"]

STREAM = "EventsStream"
STREAM_ARN = get_att(STREAM, "Arn")
RETENTION_HOURS = "StreamRetentionHours"
_PROVISIONED = "StreamIsProvisioned"


def max_retention_hours() -> int:
    """The cache keeps a delete's tombstone ``tombstone_ttl_seconds`` (7 days by default) so that a
    late, older update cannot resurrect the entry; records older than that must not exist."""
    return int(CacheSettings.model_fields["tombstone_ttl_seconds"].default) // 3600


def events_stream(registry: Registry = REGISTRY) -> Fragment:
    spec = registry.stream
    fragment = Fragment()
    fragment.parameters["StreamMode"] = {
        "Type": "String",
        "Description": "ON_DEMAND scales shards by itself; PROVISIONED uses StreamShardCount.",
        "AllowedValues": ["PROVISIONED", "ON_DEMAND"],
        "Default": "PROVISIONED",
    }
    fragment.parameters["StreamShardCount"] = number(
        "Shards of a provisioned stream (each consumer reads every shard).", spec.shard_count, 1, 500
    )
    fragment.parameters[RETENTION_HOURS] = number(
        "Hours the stream keeps a record: the window for replay and for a lagging consumer "
        "(at most the cache's tombstone lifetime, which must outlast every record still to come).",
        spec.retention_hours,
        24,
        max_retention_hours(),
    )
    fragment.conditions[_PROVISIONED] = {"Fn::Equals": [ref("StreamMode"), "PROVISIONED"]}
    fragment.resource(
        STREAM,
        "AWS::Kinesis::Stream",
        {
            "Name": named(spec.physical),
            "StreamModeDetails": {"StreamMode": ref("StreamMode")},
            "ShardCount": if_(_PROVISIONED, ref("StreamShardCount"), NO_VALUE),
            "RetentionPeriodHours": ref(RETENTION_HOURS),
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": KEY_ARN},
            "Tags": [{"Key": "auxeira:env", "Value": ref("Env")}],
        },
    )
    fragment.output("EventsStreamName", ref(STREAM), "The events stream", export=sub("${AWS::StackName}-EventsStream"))
    fragment.output("EventsStreamArn", STREAM_ARN, "The events stream's ARN")
    return fragment
