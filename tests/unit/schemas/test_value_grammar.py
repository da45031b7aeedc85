"""Every value DynamoDB can hold arrives exactly: a property over the whole AttributeValue
grammar, from an item as a stream record (as AWS shapes it) through the router's envelope,
the bus, and every projection, back to the item's public state."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auxeira.runtime.bus import envelopes_of
from consumers.projections import cache, search
from consumers.projections.counters import deltas
from producers.stream_router import to_envelope
from schemas.envelope import encode
from schemas.secrets import public_image
from schemas.wire.dynamodb import deserialize_item
from schemas.wire.json_values import from_json, json_image, to_json
from tests.stream_records import stream_record

# -- the grammar -------------------------------------------------------------------------------

_digits = st.integers(1, 38)


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """A DynamoDB number as its text: up to 38 significant digits, magnitude 1E-130 .. <1E+126."""
    digits = draw(_digits)
    mantissa = draw(st.integers(10 ** (digits - 1), 10**digits - 1))
    exponent = draw(st.integers(-130 - digits + 1, 125 - digits + 1))
    sign = draw(st.sampled_from(["", "-"]))
    value = Decimal(f"{sign}{mantissa}E{exponent}")
    if draw(st.booleans()):  # small integers are the common case
        value = Decimal(draw(st.integers(-(10**20), 10**20)))
    return str(value)


_binaries = st.binary(max_size=40)
_names = st.text(max_size=12)


def attribute_values() -> st.SearchStrategy[dict[str, Any]]:
    scalars = st.one_of(
        st.text(max_size=30).map(lambda s: {"S": s}),
        numbers().map(lambda n: {"N": n}),
        _binaries.map(lambda b: {"B": base64.b64encode(b).decode()}),  # Lambda events carry B as base64
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.sets(st.text(max_size=10), min_size=1, max_size=4).map(lambda s: {"SS": sorted(s)}),
        st.sets(numbers(), min_size=1, max_size=4).map(_number_set),
        st.sets(_binaries, min_size=1, max_size=3).map(lambda s: {"BS": [base64.b64encode(b).decode() for b in s]}),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.dictionaries(_names, inner, max_size=4).map(lambda m: {"M": m}),
            st.lists(inner, max_size=4).map(lambda items: {"L": items}),
        ),
        max_leaves=12,
    )


def _number_set(texts: set[str]) -> dict[str, list[str]]:
    # A set holds each number once, whatever its spelling ("1.0" and "1" are one member).
    unique = {Decimal(t).normalize(): t for t in texts}
    return {"NS": sorted(unique.values())}


# -- the property ------------------------------------------------------------------------------

TABLE = "auxeira-startups-dev"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda n: n not in _KEY_ATTRS), attribute_values(), max_size=6
    )
)
def test_every_attribute_value_reaches_every_projection_exactly(extra: dict[str, Any]) -> None:
    # GIVEN a startup item a foreign writer stored with arbitrary extra attributes
    wire = {
        "PK": {"S": "STARTUP#s1"},
        "SK": {"S": "PROFILE"},
        "tenant_id": {"S": "t1"},
        "company_name": {"S": "Acme"},
        **extra,
    }
    public = public_image(deserialize_item(wire), ("company_details.tax_id",))
    # WHEN DynamoDB Streams delivers it and the router and the bus carry it
    record = stream_record(TABLE, "INSERT", new=deserialize_item({"PK": wire["PK"], "SK": wire["SK"]}))
    record["dynamodb"]["NewImage"] = wire
    [envelope] = envelopes_of(encode(to_envelope(record)))
    # THEN the envelope's state reads back as the item's public state, exactly
    assert from_json(envelope.after) == public
    # AND so does what the cache holds
    [mutation] = cache.project(envelope)
    assert from_json(orjson.loads(mutation.state)) == public
    # AND the search document holds the searchable fields' values
    [doc] = search.project(envelope)
    assert doc.body["company_name"] == public["company_name"]
    # AND the JSON form is the one direct conversion of the image
    assert envelope.after == to_json(public) == public_image(json_image(wire), ("company_details.tax_id",))


# Keys, tenant, version and the searchable fields keep their types (a map where search wants
# text is poison for search, tested with the search projection).
_KEY_ATTRS = {
    "PK",
    "SK",
    "tenant_id",
    "company_name",
    "version",
    "deleted_at",
    "tagline",
    "elevator_pitch",
    "description",
    "industry",
    "stage",
    "sse_score",
}


@settings(max_examples=200, deadline=None)
@given(earned=numbers().filter(lambda n: Decimal(n) >= 0))
def test_a_counted_number_of_any_width_is_counted_exactly(earned: str) -> None:
    # GIVEN an activity whose earned tokens are any number DynamoDB can hold
    wire = {
        "PK": {"S": "STARTUP#s1"},
        "SK": {"S": "ACTIVITY#2026-01-01T00:00:00.000000Z#a1"},
        "tenant_id": {"S": "t1"},
        "startup_id": {"S": "s1"},
        "aux_tokens_earned": {"N": earned},
    }
    record = stream_record(
        "auxeira-activities-dev", "INSERT", new=deserialize_item({"PK": wire["PK"], "SK": wire["SK"]})
    )
    record["dynamodb"]["NewImage"] = wire
    [envelope] = envelopes_of(encode(to_envelope(record)))
    # WHEN the counters project it THEN the earned total moves by exactly that number
    adds = {d.counter: d.add for d in deltas(envelope) if d.max is None and d.version is None}
    if Decimal(earned) != 0:
        assert Decimal(adds["aux_tokens_earned_total"]) == Decimal(earned)


def test_the_documented_examples() -> None:
    image = {
        "big": {"N": "1" + "0" * 37},
        "pi": {"N": "1.2345678901234567890123456789012345678"},
        "tiny": {"N": "1E-130"},
        "half": {"N": "1.5"},
        "blob": {"B": "AAEC"},
        "tag": {"M": {"$n": {"S": "not a number"}}},
    }
    assert json_image(image) == {
        "big": {"$n": "1" + "0" * 37},
        "pi": {"$n": "1.2345678901234567890123456789012345678"},
        "tiny": 1e-130,
        "half": 1.5,
        "blob": {"$b": "AAEC"},
        "tag": {"$m": {"$n": "not a number"}},
    }
    assert from_json(json_image(image)) == deserialize_item(image)
