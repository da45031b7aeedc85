"""Plain JSON values <-> DynamoDB values, and the one timestamp format.

Three shapes of the same item meet in this project:

* **plain**: what the rest of the code reads and writes: ``str``, ``int``, ``float``,
  ``bool``, ``None``, ``list``, ``dict``, plus ``bytes`` for binary attributes and
  ``Decimal`` for a number no double holds exactly (:func:`plain_number`): every value
  DynamoDB can hold, exactly;
* **dynamo**: what boto3's resource layer uses: numbers are ``Decimal`` (DynamoDB has
  no float type and boto3 refuses floats, boto/boto3#665);
* **wire**: the low-level AttributeValue maps of the client API and of stream records
  (``{"N": "1.5"}``).

:func:`deserialize_item` sits on the stream router's hot path, so it converts wire to
plain in one pass instead of going through ``TypeDeserializer`` and then
:func:`from_dynamo`; a property test checks the two give the same result.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeSerializer

__all__ = [
    "AttributeValueError",
    "deserialize_item",
    "format_timestamp",
    "from_dynamo",
    "number_error",
    "parse_number",
    "plain_number",
    "serialize_item",
    "to_dynamo",
    "utc_now",
]

_serializer = TypeSerializer()

# DynamoDB numbers: up to 38 significant digits, magnitude 1E-130 to 9.99...E+125
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html).
# boto3 signals anything else with decimal.Inexact/Overflow/Underflow, not ValueError.
_INT_LIMIT = 10**38
_FLOAT_MAX = 1e126
_FLOAT_MIN = 1e-130


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the repository's default clock)."""
    return datetime.now(UTC)


def format_timestamp(value: datetime) -> str:
    """``2026-01-02T03:04:05.123456Z``: UTC, always six fractional digits, ``Z``.

    Fixed width so that string order is time order: sort keys such as
    ``ACTIVITY#{timestamp}#...`` and GSI range keys such as ``submitted_at`` sort by
    time only if every timestamp has the same shape (``...05Z`` sorts after ``...05.5Z``).
    A naive datetime is taken to be UTC already.
    """
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    # isoformat pads the year to four digits; strftime("%Y") does not on glibc.
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# -- plain -> dynamo ---------------------------------------------------------------


def to_dynamo(value: Any) -> Any:
    """A plain value as boto3 accepts it: floats become ``Decimal`` (via ``str``, so
    ``0.1`` stays ``0.1``), ``None`` inside maps is dropped, datetimes become
    :func:`format_timestamp` strings and dates ISO dates.

    Raises:
        ValueError: a number DynamoDB cannot store (see :func:`number_error`).
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if -_INT_LIMIT < value < _INT_LIMIT else _refuse(value)
    if kind is float:
        return _decimal(value)
    if kind is dict:
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if kind is list or kind is tuple:
        return [to_dynamo(v) for v in value]
    return _to_dynamo_other(value)


def _to_dynamo_other(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return _decimal(value)
    if isinstance(value, int) and not isinstance(value, bool) and number_error(value):
        _refuse(value)
    if isinstance(value, Mapping):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, (set, frozenset)):
        return {to_dynamo(v) for v in value}
    return value  # str/int subclasses, Decimal, bytes, Binary: boto3 takes them as they are


def number_error(value: float) -> str | None:
    """Why DynamoDB cannot store this number, or None when it can."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -_INT_LIMIT < value < _INT_LIMIT else "has more than 38 digits"
    if not math.isfinite(value):
        return "must be a finite number"
    if value and not _FLOAT_MIN <= abs(value) < _FLOAT_MAX:
        return "is outside the range DynamoDB stores (1E-130 to 9.99E+125)"
    return None


def _decimal(value: float) -> Decimal:
    if number_error(value):
        _refuse(value)
    return Decimal(str(value))


def _refuse(value: Any) -> Any:
    raise ValueError(f"DynamoDB cannot store the number {value!r}: {number_error(value)}")


# -- dynamo -> plain ---------------------------------------------------------------


def from_dynamo(value: Any) -> Any:
    """A boto3 value as plain values: ``Decimal`` -> ``int`` when integral, ``float`` when a
    double holds it exactly, else the ``Decimal`` itself; sets -> sorted lists; ``Binary``
    -> ``bytes``."""
    kind = type(value)
    if kind is str or kind is bool or value is None or kind is int:
        return value
    if kind is Decimal:
        return plain_number(value)
    if kind is dict:
        return {k: from_dynamo(v) for k, v in value.items()}
    if kind is list:
        return [from_dynamo(v) for v in value]
    if kind is set or kind is frozenset:
        return sorted(from_dynamo(v) for v in value)
    if kind is Binary:
        return value.value
    return value


def plain_number(value: Decimal) -> int | float | Decimal:
    """A DynamoDB number, exactly: ``int`` when integral, ``float`` when the nearest double
    is the number itself (``1.5``, ``0.1`` as Python prints it), else the ``Decimal``
    (``1.2345678901234567890123456789012345678`` keeps its 38 digits)."""
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else value


# -- wire ----------------------------------------------------------------------------


class AttributeValueError(ValueError):
    """An AttributeValue DynamoDB would never send: the message names the attribute path."""

    def __init__(self, path: str, problem: str):
        self.path = path
        super().__init__(f"attribute {path or '(top)'}: {problem}")


def serialize_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A plain item as a low-level AttributeValue map (for ``put_item``, keys, values)."""
    return {k: _serializer.serialize(to_dynamo(v)) for k, v in item.items() if v is not None}


def deserialize_item(image: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A low-level AttributeValue map (GetItem ``Item``, stream ``NewImage``) as plain
    values, exactly; equal to ``from_dynamo(TypeDeserializer().deserialize({"M": image}))``.

    Raises:
        AttributeValueError: an unknown type tag, a number that does not parse, a
            malformed set or binary; the message names the attribute's path.
    """
    if not isinstance(image, Mapping):
        raise AttributeValueError("", f"an image must be a map of attributes, not {type(image).__name__}")
    return {k: _plain(v, k) for k, v in image.items()}


def _plain(attr: Any, path: str) -> Any:
    # One-key dicts; the common types first. Order matters only for speed.
    if not isinstance(attr, Mapping) or len(attr) != 1:
        raise AttributeValueError(path, f"not an AttributeValue (one type tag): {attr!r}"[:200])
    for tag, raw in attr.items():
        if tag == "S":
            return _typed(raw, str, path, tag)
        if tag == "N":
            return parse_number(raw, path)
        if tag == "M":
            return {k: _plain(v, f"{path}.{k}") for k, v in _typed(raw, dict, path, tag).items()}
        if tag == "L":
            return [_plain(v, f"{path}[{i}]") for i, v in enumerate(_typed(raw, list, path, tag))]
        if tag == "BOOL":
            return _typed(raw, bool, path, tag)
        if tag == "NULL":
            return None
        if tag == "SS":
            return sorted(_typed(s, str, path, tag) for s in _typed(raw, list, path, tag))
        if tag == "NS":
            return sorted(parse_number(n, path) for n in _typed(raw, list, path, tag))
        if tag == "B":
            return _binary(raw, path)
        if tag == "BS":
            return sorted(_binary(b, path) for b in _typed(raw, list, path, tag))
        raise AttributeValueError(path, f"unknown type tag {tag!r}")
    raise AttributeValueError(path, "empty attribute value")


def _typed(raw: Any, kind: type, path: str, tag: str) -> Any:
    if not isinstance(raw, kind):
        raise AttributeValueError(path, f"{tag} holds a {type(raw).__name__}, not a {kind.__name__}")
    return raw


def _binary(raw: Any, path: str) -> bytes:
    """``B`` values: bytes from boto3 (``Binary`` or bytes), base64 text in a Lambda event."""
    if isinstance(raw, Binary):
        return bytes(raw.value)
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True)
        except binascii.Error as exc:
            raise AttributeValueError(path, f"B is not base64: {exc}") from None
    raise AttributeValueError(path, f"B holds a {type(raw).__name__}")


def parse_number(raw: Any, path: str = "") -> int | float | Decimal:
    """A DynamoDB number's text as an exact plain number (see :func:`plain_number`)."""
    if not isinstance(raw, str):
        raise AttributeValueError(path, f"N holds a {type(raw).__name__}, not a string")
    # Most numbers are plain integers ("3", "-17"): int() is the fast path. Anything else
    # ("1.5", "1E+2", "2.0") goes through Decimal, so "2.0" still comes back an int.
    if raw.isdigit() or (raw[:1] == "-" and raw[1:].isdigit()):
        return int(raw)
    try:
        value = Decimal(raw)
    except ArithmeticError:
        raise AttributeValueError(path, f"N {raw[:50]!r} is not a number") from None
    if not value.is_finite():
        raise AttributeValueError(path, f"N {raw!r} is not a finite number")
    return plain_number(value)


# -- size ------------------------------------------------------------------------------

#: DynamoDB's limit on one item: names and values together (developer guide, "Service quotas").
MAX_ITEM_BYTES = 400 * 1024


def item_size(item: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for a plain item, in bytes (developer guide, "Item sizes"):
    attribute names in UTF-8, strings in UTF-8, binaries by length, numbers about one byte
    per two significant digits plus one, booleans and nulls one byte, and three bytes plus
    one per element of overhead for lists and maps."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def value_size(value: Any) -> int:
    """The size DynamoDB counts for one plain value (see :func:`item_size`)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (int, float, Decimal)):
        digits = len(str(value).lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if isinstance(value, (bytes, bytearray, Binary)):
        return len(bytes(value.value if isinstance(value, Binary) else value))
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(str(k).encode()) + value_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return 3 + sum(1 + value_size(v) for v in value)
    return len(str(value).encode())
