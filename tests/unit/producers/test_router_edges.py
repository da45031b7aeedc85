"""The router at the edges: a malformed record is poison for itself alone and says which
table, key and attribute; a record missing an image its change needs is refused; secret
names are dropped at any depth; ids that would break a key layout are refused."""

from __future__ import annotations

import pytest

from auxeira.runtime.dead_letters import LocalDeadLetters
from producers.handlers.router import build_handler
from producers.kinesis_writer import KinesisWriter
from producers.stream_router import to_envelope
from schemas.errors import PoisonRecordError
from tests.factories import make_stored_item
from tests.stream_records import stream_event, stream_record

TABLE = "auxeira-startups-dev"


class Recording:
    """A Kinesis client that accepts everything and keeps what it was given."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def put_records(self, *, StreamName: str, Records: list[dict]) -> dict:
        self.records += Records
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"} for _ in Records]}


def _record(**attributes) -> dict:
    item = make_stored_item("startup", 1, version=1)
    record = stream_record(TABLE, "INSERT", new=item)
    record["dynamodb"]["NewImage"].update(attributes)
    return record


@pytest.mark.parametrize(
    "record, names",
    [
        (_record(valuation={"Q": "1"}), ["valuation", "unknown type tag 'Q'"]),
        (_record(valuation={"N": "twelve"}), ["valuation", "is not a number"]),
        (_record(nested={"M": {"deep": {"N": "1.2.3"}}}), ["nested.deep", "is not a number"]),
        (_record(version={"N": "-3"}), ["attribute version", "whole number"]),
        (_record(version={"S": "3"}), ["attribute version"]),
        (_record(version={"N": "2.5"}), ["attribute version"]),
    ],
)
def test_a_malformed_record_is_poison_naming_table_key_and_attribute(record, names) -> None:
    with pytest.raises(PoisonRecordError) as raised:
        to_envelope(record)
    message = str(raised.value)
    assert TABLE in message and "STARTUP#" in message
    for name in names:
        assert name in message


def test_a_non_numeric_creation_time_is_poison_naming_it() -> None:
    record = _record()
    record["dynamodb"]["ApproximateCreationDateTime"] = "yesterday"
    with pytest.raises(PoisonRecordError, match="ApproximateCreationDateTime 'yesterday'"):
        to_envelope(record)


@pytest.mark.parametrize(
    "view, event, images",
    [
        ("NEW_IMAGE", "MODIFY", ("NewImage",)),
        ("OLD_IMAGE", "INSERT", ("OldImage",)),
        ("KEYS_ONLY", "REMOVE", ()),
    ],
)
def test_a_stream_that_is_not_new_and_old_images_is_refused_saying_so(view, event, images) -> None:
    item = make_stored_item("startup", 1, version=1)
    record = stream_record(TABLE, event, new=item, old=item)
    for name in ("NewImage", "OldImage"):
        if name not in images:
            record["dynamodb"].pop(name)
    record["dynamodb"]["StreamViewType"] = view
    with pytest.raises(PoisonRecordError, match=f"stream is {view}; the router needs NEW_AND_OLD_IMAGES"):
        to_envelope(record)


def test_a_modify_without_its_old_image_is_refused_rather_than_miscounted() -> None:
    item = make_stored_item("startup", 1, version=2)
    record = stream_record(TABLE, "MODIFY", new=item)
    record["dynamodb"].pop("StreamViewType")  # a foreign runtime that does not say
    with pytest.raises(PoisonRecordError, match="needs NewImage and OldImage; the record has no OldImage"):
        to_envelope(record)


def test_one_bad_record_is_dead_lettered_with_its_reason_and_the_rest_of_the_batch_is_routed(tmp_path) -> None:
    # GIVEN a batch: good, an unknown tag, good, a record that makes the router itself raise unexpectedly
    good = [stream_record(TABLE, "INSERT", new=make_stored_item("startup", n, version=1)) for n in (1, 2)]
    bad = _record(valuation={"Q": "1"})
    weird = stream_record(TABLE, "INSERT", new=make_stored_item("startup", 3, version=1))
    weird["dynamodb"]["NewImage"] = ["not", "a", "map"]  # json_image refuses it; nothing else may fail
    kinesis, letters = Recording(), LocalDeadLetters(tmp_path)
    response = build_handler(KinesisWriter(kinesis, "s"), letters)(stream_event(good[0], bad, good[1], weird), None)
    # THEN nothing is reported failed, the good ones were put, the bad ones wait with their reasons
    assert response == {"batchItemFailures": []}
    assert len(kinesis.records) == 2
    reasons = sorted(letter.message for letter in letters.list("router"))
    assert len(reasons) == 2 and any("unknown type tag 'Q'" in r for r in reasons)
    assert all(letter.error_type == "PoisonRecordError" for letter in letters.list("router"))


def test_secret_looking_names_are_dropped_at_any_depth() -> None:
    # GIVEN a foreign writer's attributes no spec lists as secret
    item = {
        **make_stored_item("startup", 1, version=1),
        "password_reset_token": "TOKEN-MARKER",
        "profile": {"password_hash": "HASH-MARKER", "bio": "kept"},
        "directors": [{"name": "Ada", "tax_id": "TAX-MARKER"}],
    }
    envelope = to_envelope(stream_record(TABLE, "INSERT", new=item))
    text = str(envelope.after)
    assert "MARKER" not in text
    assert envelope.after["profile"] == {"bio": "kept"} and envelope.after["directors"] == [{"name": "Ada"}]


@pytest.mark.parametrize("tenant", ["north:star", "a|b", "a#b", " spaced", "x" * 129])
def test_a_tenant_id_that_would_break_a_key_layout_is_refused(tenant) -> None:
    item = make_stored_item("startup", 1, version=1, tenant=None)
    item["tenant_id"] = tenant
    with pytest.raises(PoisonRecordError, match="is not a tenant id"):
        to_envelope(stream_record(TABLE, "INSERT", new=item))
