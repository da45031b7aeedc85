"""Cursor pagination and field selection for list queries (pure: plans and cursors).

A list query names an entity, a partition (of the table or of one of its GSIs), an
optional condition on the sort attribute and the fields to return.
:func:`plan_query` turns that into Query arguments; :meth:`Repository.list` runs them.

Cursors are opaque to callers: ``base64url(payload) + "." + base64url(mac)`` where the
payload holds DynamoDB's ``LastEvaluatedKey`` and a digest of the query's identity
(table, index, entity, partition, sort condition), and the mac is an HMAC-SHA256 of
the payload. So a cursor edited by hand fails the mac, and a genuine cursor replayed
against another query (another partition, index or table) fails the identity check,
each with an :class:`InvalidCursorError` that says which. Page size and field
selection are not part of the identity: a client may change them between pages.

Without a secret the mac is keyed with a public constant, which makes it a checksum:
it catches corruption and casual edits, not forgery. Pass a secret
(``Repository(cursor_secret=...)``) wherever cursors cross a trust boundary.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from producers.write_plan import AUDIT_FIELDS
from schemas.errors import PipelineError
from schemas.tables import EntitySpec, Gsi, KeyStyle, TableSpec
from schemas.wire.dynamodb import serialize_item

__all__ = [
    "MAX_LIMIT",
    "InvalidCursorError",
    "InvalidQueryError",
    "Page",
    "QueryPlan",
    "SortCondition",
    "decode_cursor",
    "encode_cursor",
    "plan_query",
    "projection_expression",
]

#: Largest page a caller may ask for (a Query returns at most 1 MB anyway).
MAX_LIMIT = 1000

_PUBLIC_KEY = b"auxeira-cursor-v1"
_MAC_BYTES = 16
_OPERATORS = {"=": 1, "<": 1, "<=": 1, ">": 1, ">=": 1, "between": 2, "begins_with": 1}

#: ``("between", lo, hi)``, ``(">=", v)``, ``("begins_with", prefix)``; a bare value means ``=``.
SortCondition = tuple[Any, ...] | str | int | float


class InvalidCursorError(PipelineError, ValueError):
    """A cursor that is malformed, altered, or belongs to another query."""

    def __init__(self, problem: str):
        self.problem = problem
        super().__init__(f"invalid cursor: {problem}")


class InvalidQueryError(PipelineError, ValueError):
    """A list query that names an unknown field or index, or a malformed condition."""

    def __init__(self, entity: str, field: str, problem: str):
        self.entity = entity
        self.field = field
        self.problem = problem
        super().__init__(f"invalid {entity} query: {field}: {problem}")


@dataclass(frozen=True)
class Page:
    """One page of a list query.

    Attributes:
        items: the items, in the index's order, each with the selected fields only.
        next_cursor: pass it back to get the next page; None when this is the last.
            (DynamoDB may hand out a cursor whose next page is empty.)
    """

    items: list[dict[str, Any]]
    next_cursor: str | None = None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


@dataclass(frozen=True)
class QueryPlan:
    """Query arguments (without ``Limit``/``ExclusiveStartKey``) and the query's identity."""

    kwargs: dict[str, Any]
    identity: str


def plan_query(
    spec: EntitySpec,
    table: TableSpec,
    table_name: str,
    *,
    partition: Any,
    index: str | None = None,
    key_condition: SortCondition | None = None,
    fields: str | Sequence[str] | None = None,
) -> QueryPlan:
    """Query arguments for the items of ``spec`` in one partition.

    Args:
        partition: the partition key's value: for the table, the key value itself
            (``"STARTUP#s1"``) or the entity's id fields (``{"startup_id": "s1"}``); for
            an index, the value of its hash attribute (or ``{attr: value}``).
        index: a GSI name of the table, or None for the table itself.
        key_condition: a condition on the sort attribute. When that attribute is the
            table's sort key, values are relative to the entity's sort-key prefix
            (``("between", "2026-01", "2026-02")`` on activities means
            ``ACTIVITY#2026-01`` .. ``ACTIVITY#2026-02``).
        fields: ``"a,b,c"`` or a list: returned fields (a ProjectionExpression).

    Raises:
        InvalidQueryError: naming the unknown index or field, or the bad condition.
    """
    hash_attr, range_attr = _key_schema(spec, table, index)
    names: dict[str, str] = {"#pk": hash_attr[0]}
    values: dict[str, Any] = {":pk": _partition_value(spec, table, index, hash_attr, partition)}
    expression = "#pk = :pk"
    sort, filter_expr = _sort_and_filter(spec, table, range_attr, key_condition)
    if sort:
        names["#sk"] = range_attr[0]  # type: ignore[index]
        values.update(sort[1])
        expression += " AND " + sort[0]
    if filter_expr:
        names.update(filter_expr[1])
        values.update(filter_expr[2])
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": serialize_item(values),
    }
    if index:
        kwargs["IndexName"] = index
    if filter_expr:
        kwargs["FilterExpression"] = filter_expr[0]
    if fields is not None:
        projection, projected = projection_expression(spec, table, fields)
        kwargs["ProjectionExpression"] = projection
        kwargs["ExpressionAttributeNames"] = {**names, **projected}
    identity = orjson.dumps(
        [table_name, index, spec.name, values, sort and sort[0]], default=str, option=orjson.OPT_SORT_KEYS
    )
    return QueryPlan(kwargs, hashlib.sha256(identity).hexdigest()[:32])


# -- cursors -------------------------------------------------------------------------------


def encode_cursor(last_key: Mapping[str, Any], identity: str, secret: bytes | None = None) -> str:
    """An opaque cursor for ``LastEvaluatedKey`` (wire form) of the query ``identity``."""
    payload = orjson.dumps({"v": 1, "q": identity, "k": last_key}, option=orjson.OPT_SORT_KEYS)
    return f"{_b64(payload)}.{_b64(_mac(payload, secret))}"


def decode_cursor(cursor: str, identity: str, secret: bytes | None = None) -> dict[str, Any]:
    """The ``ExclusiveStartKey`` a cursor carries, after checking it.

    Raises:
        InvalidCursorError: not a cursor, altered (mac mismatch), or made by another query.
    """
    if not isinstance(cursor, str) or cursor.count(".") != 1:
        raise InvalidCursorError("not a cursor this API issued (expected two base64url parts)")
    body, mac = cursor.split(".")
    try:
        payload, given = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError):
        raise InvalidCursorError("not valid base64url") from None
    if not hmac.compare_digest(given, _mac(payload, secret)):
        raise InvalidCursorError("signature does not match: the cursor was altered or issued by another deployment")
    try:
        decoded = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise InvalidCursorError("payload is not JSON") from None
    if not isinstance(decoded, dict) or decoded.get("v") != 1 or not isinstance(decoded.get("k"), dict):
        raise InvalidCursorError("unsupported cursor version")
    if decoded.get("q") != identity:
        raise InvalidCursorError(
            "it belongs to another query (other entity, partition, index, "
            "sort condition or table); start again without a cursor"
        )
    return decoded["k"]


def _mac(payload: bytes, secret: bytes | None) -> bytes:
    return hmac.new(secret or _PUBLIC_KEY, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


# -- planning helpers ---------------------------------------------------------------------------


def _key_schema(
    spec: EntitySpec, table: TableSpec, index: str | None
) -> tuple[tuple[str, str], tuple[str, str] | None]:
    if index is None:
        return (table.hash_key, "S"), ((table.range_key, "S") if table.range_key else None)
    gsi = _gsi(spec, table, index)
    return gsi.hash_key, gsi.range_key


def _gsi(spec: EntitySpec, table: TableSpec, index: str) -> Gsi:
    for gsi in table.gsis:
        if gsi.name == index:
            return gsi
    known = ", ".join(g.name for g in table.gsis) or "none"
    raise InvalidQueryError(spec.name, "index", f"{table.name} has no index {index!r} (known: {known})")


def _partition_value(
    spec: EntitySpec, table: TableSpec, index: str | None, hash_attr: tuple[str, str], partition: Any
) -> Any:
    attr, kind = hash_attr
    if isinstance(partition, Mapping):
        if index is None and table.style is not KeyStyle.PLAIN and set(partition) != {attr}:
            try:
                return spec.pk.format_map(partition)  # type: ignore[union-attr]
            except KeyError as exc:
                raise InvalidQueryError(spec.name, str(exc.args[0]), "partition field missing") from None
        if set(partition) != {attr}:
            raise InvalidQueryError(spec.name, "partition", f"expected {{{attr!r}: value}}, got {sorted(partition)}")
        partition = partition[attr]
    return _typed(spec, attr, kind, partition)


def _typed(spec: EntitySpec, attr: str, kind: str, value: Any) -> Any:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if (kind == "N") != numeric or (kind == "S" and not isinstance(value, str)):
        wanted = "a number" if kind == "N" else "a string"
        raise InvalidQueryError(spec.name, attr, f"must be {wanted}, got {value!r}")
    return value


def _sort_and_filter(
    spec: EntitySpec, table: TableSpec, range_attr: tuple[str, str] | None, condition: SortCondition | None
):
    """(key condition on the sort attribute, filter isolating the entity), either None.

    On the table's own sort key the entity is isolated by the key condition (its
    sort-key prefix); elsewhere, in a table of several entities, by a filter.
    """
    on_sort_key = range_attr is not None and range_attr[0] == table.range_key and spec.sk is not None
    if condition is not None and range_attr is None:
        raise InvalidQueryError(spec.name, "key_condition", "this table or index has no sort key")
    if on_sort_key:
        prefix, fixed = spec.sk_prefix or "", spec.sk == spec.sk_prefix
        if condition is not None and fixed:
            raise InvalidQueryError(spec.name, "key_condition", f"every {spec.name} has sort key {spec.sk!r}")
        if condition is None:
            op, operands = ("=", [prefix]) if fixed else ("begins_with", [prefix])
        else:
            op, operands = _parse_condition(spec, condition)
            operands = [prefix + _typed(spec, range_attr[0], "S", v) for v in operands]  # type: ignore[index]
        return _sort_expression(op, operands), None
    sort = None
    if condition is not None:
        op, operands = _parse_condition(spec, condition)
        sort = _sort_expression(op, [_typed(spec, range_attr[0], range_attr[1], v) for v in operands])  # type: ignore[index]
    return sort, _entity_filter(spec, table)


def _parse_condition(spec: EntitySpec, condition: SortCondition) -> tuple[str, list[Any]]:
    if not isinstance(condition, tuple):
        return "=", [condition]
    if not condition or condition[0] not in _OPERATORS:
        raise InvalidQueryError(
            spec.name, "key_condition", f"operator must be one of {', '.join(_OPERATORS)}, got {condition[:1]!r}"
        )
    op, operands = condition[0], list(condition[1:])
    if len(operands) != _OPERATORS[op]:
        raise InvalidQueryError(spec.name, "key_condition", f"{op!r} takes {_OPERATORS[op]} value(s)")
    return op, operands


def _sort_expression(op: str, operands: list[Any]) -> tuple[str, dict[str, Any]]:
    if op == "between":
        return "#sk BETWEEN :s0 AND :s1", {":s0": operands[0], ":s1": operands[1]}
    if op == "begins_with":
        return "begins_with(#sk, :s0)", {":s0": operands[0]}
    return f"#sk {op} :s0", {":s0": operands[0]}


def _entity_filter(spec: EntitySpec, table: TableSpec):
    if len(table.entities) < 2:
        return None
    if table.discriminator and spec.type_value:
        return "#et = :et", {"#et": table.discriminator}, {":et": spec.type_value}
    prefix = spec.sk_prefix or ""
    if spec.sk == prefix:
        return "#tsk = :tsk", {"#tsk": table.range_key}, {":tsk": prefix}
    return "begins_with(#tsk, :tsk)", {"#tsk": table.range_key}, {":tsk": prefix}


def projection_expression(
    spec: EntitySpec, table: TableSpec, fields: str | Sequence[str]
) -> tuple[str, dict[str, str]]:
    """ProjectionExpression with a placeholder per path segment (``status``, ``name``,
    ``date`` are reserved words), after checking every top-level name is known."""
    wanted = [f.strip() for f in (fields.split(",") if isinstance(fields, str) else fields)]
    known = set(spec.model.model_fields) | set(table.key_attrs) | AUDIT_FIELDS
    known |= {a for g in table.gsis for a in (g.hash_key[0], g.range_key and g.range_key[0]) if a}
    names: dict[str, str] = {}
    paths: list[str] = []
    for path in dict.fromkeys(wanted):
        segments = path.split(".")
        if not path or any(not s or "[" in s for s in segments):
            raise InvalidQueryError(spec.name, path or "<empty>", "not a field name")
        if segments[0] not in known:
            raise InvalidQueryError(spec.name, path, "unknown field")
        placeholders = []
        for segment in segments:
            token = f"#f{len(names)}"
            names[token] = segment
            placeholders.append(token)
        paths.append(".".join(placeholders))
    return ", ".join(paths), names
