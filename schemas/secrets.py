"""The secret policy: what never leaves its table, and how it is taken out.

Two rules, applied together (defence in depth):

1. **The spec's secret paths** (:attr:`schemas.tables.EntitySpec.secret`:
   ``password_hash``, ``company_details.tax_id``, ...) are dropped where the spec says.
2. **A deny-list of secret-looking names**, applied at any depth, inside maps and
   lists: an attribute is secret when its name, split into words (``snake_case``,
   ``camelCase``, ``kebab-case``), contains a secret word (``password``, ``secret``,
   ``token``, ``otp``, ``ssn``, ``credential``...) or a secret pair (``api key``,
   ``private key``, ``access key``, ``tax id``, ``account number``...). So
   ``password_reset_token``, a ``password_hash`` nested in a map, a ``taxId`` inside a
   list of maps, or a field a foreign writer added are caught although no spec lists
   them. Words are whole: ``aux_tokens_earned`` (a public counter) is not a secret.

Where it applies: the router builds every envelope from :func:`public_image` (secrets
dropped); every dead letter and failure record is written through
:func:`redact_record` (secret values replaced by :data:`REDACTED`, so an operator
still sees the field existed); the history table keeps changed secrets by name only.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_PAIRS",
    "SECRET_WORDS",
    "is_secret_name",
    "public_image",
    "redact_attribute_map",
    "redact_record",
    "redact_value",
]

#: What a redacted value is replaced by in dead letters and failure records.
REDACTED = "<redacted>"

SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "secrets",
        "token",
        "otp",
        "totp",
        "ssn",
        "credential",
        "credentials",
        "pin",
        "cvv",
        "cvc",
        "iban",
        "mfa",
    }
)
SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("apikey",),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("tax", "id"),
        ("taxid",),
        ("tax", "number"),
        ("account", "number"),
        ("routing", "number"),
        ("card", "number"),
        ("redemption", "code"),
        ("recovery", "code"),
        ("reset", "code"),
        ("verification", "code"),
        ("disbursement", "account"),
        ("bank", "account"),
    }
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether an attribute name looks like it holds a secret (see the module docstring)."""
    words = [w.lower() for w in _WORD.findall(name)]
    if any(w in SECRET_WORDS for w in words):
        return True
    pairs = set(itertools.pairwise(words)) | {(w,) for w in words}
    return bool(pairs & SECRET_PAIRS)


# -- plain values (envelopes) ------------------------------------------------------------


def public_image(image: Mapping[str, Any], secret_paths: Iterable[str] = ()) -> dict[str, Any]:
    """``image`` without the spec's secret paths and without any secret-looking name, at any depth.

    Only containers on the way to something dropped are copied; the rest is shared, which
    keeps this cheap on the router's hot path.
    """
    out = _drop_names(image)
    for path in secret_paths:
        _drop_path(out, path.split("."))
    return out


def _drop_names(node: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in node.items():
        if is_secret_name(name):
            continue
        out[name] = _drop_in(value)
    return out


def _drop_in(value: Any) -> Any:
    if isinstance(value, dict):
        return _drop_names(value)
    if isinstance(value, list):
        return [_drop_in(v) for v in value]
    return value


def _drop_path(node: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in node:
        return
    if not rest:
        del node[head]
        return
    child = node[head]
    if isinstance(child, dict):
        node[head] = dict(child)
        _drop_path(node[head], rest)
    elif isinstance(child, list):
        node[head] = [dict(c) if isinstance(c, dict) else c for c in child]
        for c in node[head]:
            if isinstance(c, dict):
                _drop_path(c, rest)


# -- redaction (dead letters, failure records) -------------------------------------------


def redact_value(value: Any, secret_paths: Iterable[str] = ()) -> Any:
    """A plain JSON value with every secret replaced by :data:`REDACTED` (a copy)."""
    paths = {tuple(p.split(".")) for p in secret_paths}
    return _redact(value, (), paths)


def redact_attribute_map(image: Mapping[str, Any], secret_paths: Iterable[str] = ()) -> dict[str, Any]:
    """A DynamoDB AttributeValue map (``{"name": {"S": ...}}``) with secrets replaced by
    ``{"S": REDACTED}``, at any depth of ``M`` and ``L`` values (a copy)."""
    paths = {tuple(p.split(".")) for p in secret_paths}
    return {name: _redact_attr(name, attr, (name,), paths) for name, attr in image.items()}


def _redact(value: Any, path: tuple[str, ...], paths: set[tuple[str, ...]]) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if (is_secret_name(k) or (*path, k) in paths) else _redact(v, (*path, k), paths)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v, path, paths) for v in value]
    return value


def _redact_attr(name: str, attr: Any, path: tuple[str, ...], paths: set[tuple[str, ...]]) -> Any:
    if is_secret_name(name) or path in paths:
        return {"S": REDACTED}
    if not isinstance(attr, dict) or len(attr) != 1:
        return attr
    ((tag, raw),) = attr.items()
    if tag == "M" and isinstance(raw, dict):
        return {"M": {k: _redact_attr(k, v, (*path, k), paths) for k, v in raw.items()}}
    if tag == "L" and isinstance(raw, list):
        return {"L": [_redact_attr("", v, path, paths) for v in raw]}
    return attr


def redact_record(record: Mapping[str, Any], secret_paths: Iterable[str] = ()) -> dict[str, Any]:
    """A Lambda-shaped stream record (DynamoDB or Kinesis) with its secrets redacted.

    A DynamoDB record's ``Keys``, ``NewImage`` and ``OldImage`` are redacted as
    AttributeValue maps with ``secret_paths`` and the deny-list. A Kinesis record's data
    is an envelope (the router already dropped secrets); a publisher outside our SDK may
    still have sent one, so decodable JSON data is redacted by the deny-list too and
    re-encoded; data that is not JSON is kept as it is (it names no attribute).
    """
    paths = tuple(secret_paths)
    out = dict(record)
    ddb = record.get("dynamodb")
    if isinstance(ddb, Mapping):
        out["dynamodb"] = {
            k: redact_attribute_map(v, paths) if k in ("NewImage", "OldImage", "Keys") and isinstance(v, Mapping) else v
            for k, v in ddb.items()
        }
    kinesis = record.get("kinesis")
    if isinstance(kinesis, Mapping) and isinstance(kinesis.get("data"), str):
        out["kinesis"] = {**kinesis, "data": _redact_kinesis_data(kinesis["data"])}
    return out


def _redact_kinesis_data(data: str) -> str:
    import base64
    import binascii

    import orjson

    try:
        payload = orjson.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return data
    redacted = redact_value(payload)
    if redacted == payload:
        return data
    return base64.b64encode(orjson.dumps(redacted)).decode("ascii")
