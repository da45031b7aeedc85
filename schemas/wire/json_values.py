"""How item values travel in an envelope's JSON, exactly.

An envelope's ``before`` and ``after`` are JSON objects. Most DynamoDB values have a
JSON twin; the few that do not travel as a one-key object whose key starts with ``$``:

======================  ==========================================================
DynamoDB                envelope JSON
======================  ==========================================================
S, BOOL, NULL, M, L     string, true/false, null, object, array
N, an integer in int64  a JSON integer (``42``)
N, a double holds it    a JSON number (``1.5``, ``0.1``), the shortest text that
exactly                 reads back to the same double
any other N             ``{"$n": "<decimal text>"}``: integers of 20 to 38 digits,
                        decimals of more digits than a double keeps
B                       ``{"$b": "<base64>"}``
SS, NS, BS              an array of the members, sorted (strings by code point,
                        numbers by value, binaries by bytes), each member as above
a map whose only key    ``{"$m": {...}}``, so no stored map is ever read as a tag
starts with ``$``
======================  ==========================================================

Why tags and not JSON numbers of any length: every JSON parser on the consumers' path
(orjson, OpenSearch, Spark, Athena) reads numbers as 64-bit integers or doubles, and
orjson silently turns ``100000000000000000000`` into ``1e+20``. A tag is a string, so it
survives every parser; :func:`from_json` reads it back to ``int`` or ``Decimal``.
Sets arrive as sorted arrays: members exactly, the set-ness given up, as JSON has no
sets (the model of the field says whether it is a set).

Plain values (:mod:`schemas.wire.dynamodb`) and envelope JSON convert both ways,
exactly: ``from_json(to_json(v)) == v`` for every plain value.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from schemas.wire.dynamodb import AttributeValueError, parse_number, plain_number

__all__ = [
    "BINARY_TAG",
    "INT64_MAX",
    "INT64_MIN",
    "MAP_TAG",
    "NUMBER_TAG",
    "from_json",
    "json_image",
    "json_number",
    "to_json",
]

NUMBER_TAG, BINARY_TAG, MAP_TAG = "$n", "$b", "$m"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def json_number(value: float | Decimal) -> int | float | dict[str, str]:
    """A plain number as envelope JSON (see the module table)."""
    if type(value) is int:
        return value if INT64_MIN <= value <= INT64_MAX else {NUMBER_TAG: str(value)}
    if type(value) is float:
        return value
    if isinstance(value, Decimal):
        plain = plain_number(value)
        return plain if not isinstance(plain, Decimal) else {NUMBER_TAG: _decimal_text(plain)}
    return value  # bool, int subclasses: as they are


def to_json(value: Any) -> Any:
    """A plain value (str, numbers, bytes, bool, None, lists, maps) as envelope JSON."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int or kind is float or kind is Decimal:
        return json_number(value)
    if kind is dict or isinstance(value, Mapping):
        out = {k: to_json(v) for k, v in value.items()}
        return {MAP_TAG: out} if _looks_tagged(out) else out
    if kind is list or kind is tuple:
        return [to_json(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {BINARY_TAG: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (set, frozenset)):
        return [to_json(v) for v in sorted(value)]
    return value


def from_json(value: Any) -> Any:
    """Envelope JSON back to plain values: tags to ``int``/``Decimal``/``bytes``."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == NUMBER_TAG and isinstance(inner, str):
                return parse_number(inner)
            if key == BINARY_TAG and isinstance(inner, str):
                return base64.b64decode(inner)
            if key == MAP_TAG and isinstance(inner, dict):
                return {k: from_json(v) for k, v in inner.items()}
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def json_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB AttributeValue map (a stream record's image) as envelope JSON, in one pass.

    Raises:
        AttributeValueError: an unknown type tag, a number that does not parse, a
            malformed set or binary; the message names the attribute's path.
    """
    if not isinstance(image, Mapping):
        raise AttributeValueError("", f"an image must be a map of attributes, not {type(image).__name__}")
    return {k: _value(v, k) for k, v in image.items()}


def _value(attr: Any, path: str) -> Any:
    # The router's hot path: the common tags first, one dict lookup each.
    if not isinstance(attr, dict) or len(attr) != 1:
        raise AttributeValueError(path, f"not an AttributeValue (one type tag): {attr!r}"[:200])
    ((tag, raw),) = attr.items()
    if tag == "S":
        if type(raw) is not str:
            raise AttributeValueError(path, f"S holds a {type(raw).__name__}, not a string")
        return raw
    if tag == "N":
        return json_number(parse_number(raw, path))
    if tag == "M":
        if type(raw) is not dict:
            raise AttributeValueError(path, f"M holds a {type(raw).__name__}, not a map")
        out = {k: _value(v, f"{path}.{k}") for k, v in raw.items()}
        return {MAP_TAG: out} if _looks_tagged(out) else out
    if tag == "L":
        if type(raw) is not list:
            raise AttributeValueError(path, f"L holds a {type(raw).__name__}, not a list")
        return [_value(v, f"{path}[{i}]") for i, v in enumerate(raw)]
    if tag == "BOOL":
        if type(raw) is not bool:
            raise AttributeValueError(path, f"BOOL holds a {type(raw).__name__}")
        return raw
    if tag == "NULL":
        return None
    from schemas.wire.dynamodb import deserialize_item  # sets and binaries: the plain path, then tags

    return to_json(deserialize_item({path: attr})[path])


def _looks_tagged(out: dict[str, Any]) -> bool:
    return len(out) == 1 and next(iter(out)).startswith("$")


def _decimal_text(value: Decimal) -> str:
    """Plain notation when short, scientific otherwise (``1E+125`` rather than 126 digits)."""
    text = format(value, "f")
    return text if len(text) <= 48 else str(value)
