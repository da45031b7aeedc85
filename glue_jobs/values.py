"""How one envelope JSON value fills one lake column: the reference rules, in Python.

Both engines follow these rules. The local engine (:mod:`glue_jobs.arrow_engine`) calls
them directly; the Spark job (:mod:`glue_jobs.spark_columns`) implements them with Spark
expressions on the value's *text* (Spark reads ``after`` as a map of texts, one JSON
parse), and sends every row it cannot decide exactly to these functions. That is why
the rules are written in terms of :func:`json_text`: a value is read by its JSON text,
so a number that arrives as the string ``"12"`` fills a ``bigint`` column as Spark's
cast would.

A value *fits* its column or it does not. A value that does not fit leaves the column
null and is kept, as it arrived, in the row's ``_extra`` (a pii value is kept as its
token, never as itself). Per column type:

=============  ===============================================================
string         a JSON string, number or boolean: its text
bigint         an integer text of at most int64 (``{"$n": ...}`` never fits)
double         a JSON number text, or a ``{"$n": "..."}`` tag (nearest double)
decimal(p,s)   a number text or tag, rounded half up to ``s`` places, at most
               ``p`` digits (DynamoDB numbers are decimal: exact)
boolean        ``true`` / ``false``
timestamp      ISO 8601 with ``T``, optional fraction and offset; stored as UTC
date           ``YYYY-MM-DD``
array<X>       a JSON array whose every member fits ``X``
struct<...>    a JSON object; its unknown keys and misfits go to ``_extra`` under
               the struct's name
json           anything: its JSON (envelope JSON: tags kept)
pii string     anything: the token of its text
pii map        an object: keys kept, each value's token
=============  ===============================================================
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import orjson

from glue_jobs.columns import Column, ColumnType
from glue_jobs.pii import Tokenizer
from schemas.secrets import is_secret_name
from schemas.wire.json_values import MAP_TAG, NUMBER_TAG

__all__ = [
    "DATE",
    "INT64",
    "ISO_TIMESTAMP",
    "JSON_NUMBER",
    "MISSING",
    "convert",
    "json_text",
    "parse_timestamp",
]

#: The JSON grammar of a number (RFC 8259 section 6).
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
ISO_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
INT64 = (-(2**63), 2**63 - 1)


class _Missing:
    """Marks "nothing left over" (None is a value: JSON null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def json_text(value: Any) -> str | None:
    """A value's text as Spark's map-of-strings view gives it: strings as they are,
    numbers and booleans as JSON, objects and arrays as compact JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return orjson.dumps(value).decode("utf-8")


def convert(column: Column, value: Any, tokenizer: Tokenizer) -> tuple[Any, Any]:
    """``(column value, leftover)`` of one value; leftover is :data:`MISSING` when it all fit."""
    if value is None:
        return None, MISSING
    if column.pii:
        return _pii(column, value, tokenizer)
    return _typed(column.type, value, tokenizer)


def _pii(column: Column, value: Any, tokenizer: Tokenizer) -> tuple[Any, Any]:
    if column.type.kind == "map":
        value = _untag_map(value)
        if not isinstance(value, dict):
            return None, tokenizer.token(str(json_text(value)))
        return {k: None if v is None else tokenizer.token(str(json_text(v))) for k, v in value.items()}, MISSING
    return tokenizer.token(str(json_text(value))), MISSING


def _typed(kind: ColumnType, value: Any, tokenizer: Tokenizer) -> tuple[Any, Any]:
    if kind.kind == "struct":
        return _struct(kind, value, tokenizer)
    if kind.kind == "array":
        return _array(kind, value, tokenizer)
    if kind.kind == "json":
        return orjson.dumps(value).decode("utf-8"), MISSING
    result = _scalar(kind, value)
    return (None, value) if result is None else (result, MISSING)


def _struct(kind: ColumnType, value: Any, tokenizer: Tokenizer) -> tuple[Any, Any]:
    value = _untag_map(value)
    if not isinstance(value, dict):
        return None, value
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    known = {f.name for f in kind.fields} | kind.ignored
    for field in kind.fields:
        out[field.name], left = convert(field, value.get(field.name), tokenizer)
        if left is not MISSING:
            extra[field.name] = left
    extra.update({k: v for k, v in value.items() if k not in known and not is_secret_name(k)})
    return out, extra or MISSING


def _array(kind: ColumnType, value: Any, tokenizer: Tokenizer) -> tuple[Any, Any]:
    assert kind.element is not None
    if not isinstance(value, list):
        return None, value
    out = []
    for member in value:
        converted, left = _typed(kind.element, member, tokenizer) if member is not None else (None, MISSING)
        if left is not MISSING:
            return None, value
        out.append(converted)
    return out, MISSING


def _scalar(kind: ColumnType, value: Any) -> Any:
    """The converted scalar, or None when the value does not fit."""
    if isinstance(value, (dict, list)):
        number = _number_tag(value)
        if number is None or kind.kind not in ("double", "decimal"):
            return None
        text = number
    else:
        text = str(json_text(value))
    if kind.kind == "string":
        return text
    if kind.kind == "bigint":
        return int(text) if INTEGER.fullmatch(text) and INT64[0] <= int(text) <= INT64[1] else None
    if kind.kind == "double":
        return float(text) if JSON_NUMBER.fullmatch(text) else None
    if kind.kind == "decimal":
        return _decimal(text, kind.precision, kind.scale) if JSON_NUMBER.fullmatch(text) else None
    if kind.kind == "boolean":
        return {"true": True, "false": False}.get(text)
    if kind.kind == "timestamp":
        return parse_timestamp(text) if ISO_TIMESTAMP.fullmatch(text) else None
    if kind.kind == "date":
        return _date(text)
    raise ValueError(f"not a scalar column type: {kind.kind}")


def parse_timestamp(text: str) -> datetime | None:
    """ISO 8601 text to a naive UTC datetime (a text without offset is UTC)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _date(text: str) -> date | None:
    if not DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _decimal(text: str, precision: int, scale: int) -> Decimal | None:
    try:
        rounded = Decimal(text).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    # decimal(p,s) holds p - s digits before the point, as Spark's cast and Athena read it.
    return rounded if abs(rounded) < Decimal(10) ** (precision - scale) else None


def _number_tag(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(NUMBER_TAG), str):
        text = value[NUMBER_TAG]
        return text if JSON_NUMBER.fullmatch(text) else None
    return None


def _untag_map(value: Any) -> Any:
    """``{"$m": {...}}`` (a stored map whose only key starts with ``$``) is that map."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(MAP_TAG), dict):
        return value[MAP_TAG]
    return value
