"""Router mapping: stream record -> envelope, for every key style and every event kind."""

from __future__ import annotations

import orjson
import pytest

from producers.stream_router import partition_key, to_envelope
from schemas import catalog
from schemas.envelope import decode, encode
from schemas.errors import PoisonRecordError, UnknownTableError
from tests.factories import make_item
from tests.stream_records import AWS_TTL_IDENTITY, stream_record

METRIC = {
    "PK": "STARTUP#s1",
    "SK": "METRICS#2026-01-01",
    "tenant_id": "t1",
    "startup_id": "s1",
    "date": "2026-01-01",
    "mrr": 1000,
    "version": 3,
    "updated_by": "u-9",
}
MEMBER = {
    "PK": "ORG#o1",
    "SK": "MEMBER#u1",
    "entityType": "MEMBER",
    "organizationId": "o1",
    "userId": "u1",
    "email": "a@b.co",
    "role": "member",
}
INVITATION = {
    "PK": "ORG#o1",
    "SK": "INVITATION#i1",
    "entityType": "INVITATION",
    "organizationId": "o1",
    "invitationId": "i1",
    "email": "new@b.co",
    "invitedBy": "u1",
    "token": "s3cr3t-token",
    "expiresAt": 1_767_225_600,
}
ASSISTANT_DOC = {"userId": "u1", "documentId": "d1", "fileName": "a.pdf", "fileType": "application/pdf"}

STYLES = [
    pytest.param(
        "auxeira-startups-dev",
        METRIC,
        ("PK", "SK"),
        "startup_metric",
        "t1",
        "STARTUP#s1|METRICS#2026-01-01",
        id="pk_sk",
    ),
    pytest.param(
        "devinsights-organizations-dev", MEMBER, ("PK", "SK"), "member", "o1", "ORG#o1|MEMBER#u1", id="single_table"
    ),
    pytest.param(
        "ai-assistant-documents-dev",
        ASSISTANT_DOC,
        ("userId", "documentId"),
        "assistant_document",
        "u1",
        "u1|d1",
        id="plain",
    ),
]


@pytest.mark.parametrize("table,item,key_attrs,entity,tenant,key", STYLES)
class TestEveryKeyStyle:
    def test_insert_is_created(self, table, item, key_attrs, entity, tenant, key):
        # GIVEN an INSERT WHEN it is routed THEN entity, tenant and key come from the spec
        env = to_envelope(stream_record(table, "INSERT", new=item, key_attrs=key_attrs))
        assert (env.event_type, env.entity, env.tenant_id, env.key) == (f"{entity}.created", entity, tenant, key)
        assert env.after == item and env.before is None

    def test_modify_is_updated(self, table, item, key_attrs, entity, tenant, key):
        changed = {**item, "version": 9}
        env = to_envelope(stream_record(table, "MODIFY", new=changed, old=item, key_attrs=key_attrs))
        assert env.event_type == f"{entity}.updated"
        assert env.version == 9
        assert env.before == item and env.after == changed

    def test_remove_is_deleted_with_no_after(self, table, item, key_attrs, entity, tenant, key):
        env = to_envelope(stream_record(table, "REMOVE", old=item, key_attrs=key_attrs))
        assert env.event_type == f"{entity}.deleted"
        assert env.after is None and env.before == item and env.state is None

    def test_ttl_remove_on_aws_is_expired(self, table, item, key_attrs, entity, tenant, key):
        record = stream_record(table, "REMOVE", old=item, key_attrs=key_attrs, user_identity=AWS_TTL_IDENTITY)
        env = to_envelope(record)
        assert env.event_type == f"{entity}.expired"
        assert env.actor == "dynamodb.amazonaws.com"

    def test_ttl_on_dynamodb_local_is_expired(self, table, item, key_attrs, entity, tenant, key):
        record = stream_record(table, "UNKNOWN_TO_SDK_VERSION", old=item, key_attrs=key_attrs)
        assert to_envelope(record).event_type == f"{entity}.expired"


def test_user_remove_with_other_identity_is_a_delete():
    record = stream_record(
        "auxeira-startups-dev", "REMOVE", old=METRIC, user_identity={"type": "User", "principalId": "ops"}
    )
    assert to_envelope(record).event_type == "startup_metric.deleted"


def test_setting_deleted_at_is_a_soft_delete():
    new = {**METRIC, "deleted_at": "2026-01-02T00:00:00Z", "deleted_by": "u-2", "version": 4}
    env = to_envelope(stream_record("auxeira-startups-dev", "MODIFY", new=new, old=METRIC))
    assert env.event_type == "startup_metric.soft_deleted"
    assert env.actor == "u-2"


def test_version_is_the_item_attribute_and_a_delete_outranks_it_by_its_later_sequence():
    insert = to_envelope(stream_record("auxeira-startups-dev", "INSERT", new=METRIC, sequence="500"))
    delete = to_envelope(stream_record("auxeira-startups-dev", "REMOVE", old=METRIC, sequence="501"))
    assert insert.version == delete.version == 3
    assert delete.order > insert.order


def test_an_unversioned_item_is_version_0_and_ordered_by_its_sequence_number():
    record = stream_record(
        "ai-assistant-documents-dev",
        "INSERT",
        new=ASSISTANT_DOC,
        key_attrs=("userId", "documentId"),
        sequence="123456789012345678901",
    )
    envelope = to_envelope(record)
    assert envelope.version == 0 and envelope.order == 123456789012345678901


def test_routing_twice_gives_the_same_event_id():
    record = stream_record("auxeira-startups-dev", "INSERT", new=METRIC)
    assert to_envelope(record).event_id == to_envelope(record).event_id
    other = stream_record("auxeira-startups-dev", "INSERT", new=METRIC)
    assert to_envelope(other).event_id != to_envelope(record).event_id


def test_single_table_uses_sort_key_prefix_when_entity_type_is_missing():
    item = {k: v for k, v in INVITATION.items() if k != "entityType"}
    env = to_envelope(stream_record("devinsights-organizations-dev", "INSERT", new=item))
    assert env.entity == "invitation"
    assert "token" not in env.after


def test_envelope_round_trips_and_partition_key_is_per_entity():
    env = to_envelope(stream_record("auxeira-startups-dev", "INSERT", new=METRIC))
    assert decode(encode(env)) == env
    assert partition_key(env) == "t1:startup_metric:STARTUP#s1|METRICS#2026-01-01"


def test_unknown_table_is_poison():
    with pytest.raises(UnknownTableError):
        to_envelope(stream_record("someone-elses-table", "INSERT", new=METRIC))


def test_item_without_tenant_is_poison_naming_the_attribute():
    item = {k: v for k, v in METRIC.items() if k != "tenant_id"}
    with pytest.raises(PoisonRecordError, match="tenant_id"):
        to_envelope(stream_record("auxeira-startups-dev", "INSERT", new=item))


def _secret_entities():
    for table in catalog.TABLES:
        for entity in table.entities:
            yield pytest.param(table, entity, id=entity.name)


@pytest.mark.parametrize("table,entity", list(_secret_entities()))
def test_no_secret_field_reaches_any_envelope(table, entity):
    # GIVEN an item of this entity with every secret field filled with a marker value
    item = make_item(entity.name, 7)
    key = table.build_key(entity, item)
    item = {**item, **key}
    markers = {}
    for path in entity.secret:
        marker = f"SECRET-{entity.name}-{path}"
        markers[path] = marker
        node = item
        *parents, leaf = path.split(".")
        for p in parents:
            node[p] = dict(node.get(p) or {})
            node = node[p]
        node[leaf] = marker
    name = table.physical_name("dev")
    records = [
        stream_record(name, "INSERT", new=item, key_attrs=table.key_attrs),
        stream_record(name, "MODIFY", new=item, old=item, key_attrs=table.key_attrs),
        stream_record(name, "REMOVE", old=item, key_attrs=table.key_attrs),
        stream_record(name, "UNKNOWN_TO_SDK_VERSION", old=item, key_attrs=table.key_attrs),
    ]
    for record in records:
        # WHEN it is routed THEN no marker appears anywhere in the encoded envelope
        data = encode(to_envelope(record))
        for marker in markers.values():
            assert marker.encode() not in data
        # and public fields still travel
        assert orjson.loads(data)["tenant_id"]
