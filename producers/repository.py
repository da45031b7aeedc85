"""The write path: every entity of :mod:`schemas.catalog` goes to DynamoDB through here.

Every write is validated through the entity's model, stamped with the audit fields
(``created_*``, ``updated_*``, ``deleted_*``) and guarded by the ``version`` attribute,
which starts at 1 and grows by one on every write. The stream router copies that
version into each envelope, so the guard here is what lets projections drop stale
events.

Values go in and come out as plain JSON (``str``, ``int``, ``float``, ``bool``,
``list``, ``dict``). Every datetime is stored as
:func:`~producers.dynamo_values.format_timestamp` writes it
(``2026-01-02T03:04:05.123456Z``), so timestamps inside sort keys sort by time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Mapping, NoReturn

from botocore.exceptions import ClientError
from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from producers.dynamo_values import (
    deserialize_item,
    format_timestamp,
    from_dynamo,
    number_error,
    serialize_item,
    to_dynamo,
    utc_now,
)
from schemas import catalog
from schemas.entities.base import AuditedModel
from schemas.errors import ConflictError, EntityValidationError, NotFoundError, PoisonRecordError
from schemas.tables import EntitySpec, KeyStyle, TableSpec

__all__ = ["Repository", "build_item", "AUDIT_FIELDS", "Key", "TableNameResolver", "utc_now"]

log = logging.getLogger(__name__)

#: Fields only the repository writes; ``values``/``changes`` may not name them.
AUDIT_FIELDS: frozenset[str] = frozenset(AuditedModel.model_fields)

#: A stable key string (``"STARTUP#42|PROFILE"``) or the entity's id fields.
Key = str | Mapping[str, Any]

#: ``(table spec, env) -> physical table name``; the default is ``spec.physical_name(env)``.
TableNameResolver = Callable[[TableSpec, str], str]

_NEW = "<new>"
_CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class _Target:
    """One item: its entity, table, physical table name and primary key."""

    spec: EntitySpec
    table: TableSpec
    table_name: str
    key: dict[str, str]
    key_str: str


class Repository:
    """Validated, versioned writes of catalog entities to DynamoDB.

    Args:
        client: a boto3 low-level DynamoDB client (``boto3.client("dynamodb")``).
        env: the environment part of the physical table names (``dev``, ``prod``).
        clock: returns the current time for the audit fields.
        table_prefix_resolver: ``(table spec, env) -> physical table name``, to put the
            tables somewhere else than ``spec.physical_name(env)`` (test prefixes).
    """

    def __init__(
        self,
        client: Any,
        *,
        env: str,
        clock: Callable[[], datetime] = utc_now,
        table_prefix_resolver: TableNameResolver | None = None,
    ) -> None:
        self._client = client
        self._env = env
        self._clock = clock
        self._resolve_name = table_prefix_resolver or (lambda table, env: table.physical_name(env))

    # -- reads -----------------------------------------------------------------------

    def get(self, entity: str, key: Key, *, consistent: bool = True) -> dict[str, Any] | None:
        """The stored item (with its key attributes) or None."""
        return self._read(self._target(entity, key), consistent=consistent)

    # -- writes ----------------------------------------------------------------------

    def create(self, entity: str, values: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
        """Store a new item at version 1; returns it as :meth:`get` would.

        Raises:
            EntityValidationError: a field is invalid, unknown or repository-managed.
            ConflictError: an item with that key exists (``actual`` is its version).
        """
        item = build_item(entity, values, actor=actor, now=self._clock())
        spec, table = catalog.entity(entity), catalog.table_of_entity(entity)
        key = {a: item[a] for a in table.key_attrs}
        target = _Target(spec, table, self._table_name(table), key, table.key_of(key))
        try:
            self._client.put_item(
                TableName=target.table_name, Item=serialize_item(item),
                ConditionExpression="attribute_not_exists(#h)",
                ExpressionAttributeNames={"#h": table.hash_key},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            old = self._lost_race(exc, target)
            raise ConflictError(entity, target.key_str, None, _version_of(old)) from None
        return item

    def update(self, entity: str, key: Key, changes: Mapping[str, Any], *, actor: str,
               expected_version: int | None = None) -> dict[str, Any]:
        """Change some top-level fields; a field set to None is removed (or reset to its
        model default). Returns the stored item.

        Raises:
            EntityValidationError: the changed item would be invalid, or ``changes`` names a
                key or audit field.
            NotFoundError: no item has that key.
            ConflictError: the stored version is not ``expected_version`` (or changed since
                it was read).
        """
        target = self._target(entity, key)
        _raise_if(target.spec, target.key_str, _managed_errors(target.spec, target.table, changes))
        return self._modify(target, changes, actor, expected_version, self._clock())

    def soft_delete(self, entity: str, key: Key, *, actor: str, reason: str,
                    expected_version: int | None = None) -> dict[str, Any]:
        """Mark the item deleted (``deleted_at/by/reason``); it stays in the table."""
        target = self._target(entity, key)
        now = self._clock()
        changes = {"deleted_at": now, "deleted_by": actor, "deleted_reason": reason}
        return self._modify(target, changes, actor, expected_version, now)

    def delete(self, entity: str, key: Key, *, actor: str,
               expected_version: int | None = None) -> dict[str, Any]:
        """Remove the item; returns what was removed.

        Without ``expected_version`` the item only has to exist. DynamoDB keeps no trace
        of who removed an item (the stream's REMOVE record carries no attributes of
        ours), so ``actor`` is only logged.
        """
        target = self._target(entity, key)
        # DynamoDB rejects unused placeholders, so each condition names only its own.
        if expected_version is None:
            condition, names, values = "attribute_exists(#h)", {"#h": target.table.hash_key}, {}
        else:
            condition, names = "#v = :expected", {"#v": "version"}
            values = {":expected": {"N": str(expected_version)}}
        log.info("delete %s %r by %s", target.spec.name, target.key_str, actor)
        try:
            response = self._client.delete_item(
                TableName=target.table_name, Key=serialize_item(target.key),
                ConditionExpression=condition, ExpressionAttributeNames=names,
                **({"ExpressionAttributeValues": values} if values else {}),
                ReturnValues="ALL_OLD", ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            self._raise_conflict(exc, target, expected_version)
        return deserialize_item(response.get("Attributes") or {})

    # -- internals ---------------------------------------------------------------------

    def _modify(self, target: _Target, changes: Mapping[str, Any], actor: str,
                expected_version: int | None, now: datetime) -> dict[str, Any]:
        """Conditional partial update, in this order:

        1. read the item (consistent) -> NotFoundError if absent;
        2. compare its version with ``expected_version`` -> ConflictError, no write;
        3. validate the whole item with the changes applied, so what stays stored is valid;
        4. UpdateItem the changed fields, ``updated_*`` and ``version + 1``, on condition
           that the version is still the one read; losing that race -> ConflictError.
        """
        spec, table = target.spec, target.table
        current = self._read(target, consistent=True)
        if current is None:
            raise NotFoundError(f"{spec.name} {target.key_str!r} not found")
        stored = _version_of(current)
        if expected_version is not None and expected_version != stored:
            raise ConflictError(spec.name, target.key_str, expected_version, stored)
        merged = {k: v for k, v in current.items()
                  if k not in table.key_attrs or k in spec.model.model_fields}
        merged.update(changes)
        merged.update(version=(stored or 0) + 1, updated_at=now, updated_by=actor)
        merged = {k: v for k, v in merged.items() if v is not None}
        plain = _validate(spec, merged, lambda _errors: target.key_str)
        key_changes = [f for f in changes if f in _key_fields(spec, table)]
        if key_changes and table.build_key(spec, plain) != target.key:
            _raise_if(spec, target.key_str,
                      [(f, "is part of the key and cannot be changed") for f in key_changes])
        sets = {f: plain[f] for f in changes if f in plain}
        sets.update(updated_at=plain["updated_at"], updated_by=actor)
        removes = [f for f in changes if f not in plain]
        expression = _update_expression(sets, removes, stored, table.hash_key)
        try:
            response = self._client.update_item(
                TableName=target.table_name, Key=serialize_item(target.key), **expression,
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            self._raise_conflict(exc, target, stored)
        return deserialize_item(response["Attributes"])

    def _target(self, entity: str, key: Key) -> _Target:
        spec, table = catalog.entity(entity), catalog.table_of_entity(entity)
        attrs = _key_attrs(spec, table, key)
        key_str = table.key_of(attrs)
        if len(table.entities) > 1:
            try:
                owner = table.entity_for(attrs)
            except PoisonRecordError:
                owner = None
            if owner is not spec:
                what = f"a {owner.name} key" if owner else "no entity's key"
                _raise_if(spec, key_str, [("key", f"is {what}, not a {spec.name} key")])
        return _Target(spec, table, self._table_name(table), attrs, key_str)

    def _table_name(self, table: TableSpec) -> str:
        return self._resolve_name(table, self._env)

    def _read(self, target: _Target, *, consistent: bool) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=target.table_name, Key=serialize_item(target.key), ConsistentRead=consistent
        )
        item = response.get("Item")
        return None if item is None else deserialize_item(item)

    def _lost_race(self, exc: ClientError, target: _Target) -> dict[str, Any] | None:
        """The item that failed a condition, or re-raise ``exc`` if it was another error.

        ``ReturnValuesOnConditionCheckFailure`` hands it back with the error (AWS, 2023);
        clients or emulators that do not get a consistent read instead.
        """
        if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
            raise exc
        item = exc.response.get("Item")
        if item is not None:
            return deserialize_item(item)
        return self._read(target, consistent=True)

    def _raise_conflict(self, exc: ClientError, target: _Target, expected: int | None) -> NoReturn:
        old = self._lost_race(exc, target)
        if old is None:
            raise NotFoundError(f"{target.spec.name} {target.key_str!r} not found") from None
        raise ConflictError(target.spec.name, target.key_str, expected, _version_of(old)) from None


# -- pure helpers ----------------------------------------------------------------------


def build_item(entity: str, values: Mapping[str, Any], *, actor: str, now: datetime,
               version: int = 1) -> dict[str, Any]:
    """The item :meth:`Repository.create` stores, without storing it: validated through
    the model, stamped ``created_*``/``updated_*`` with ``now`` and ``actor``, keyed, and
    in the plain form :meth:`Repository.get` would return.

    Raises:
        EntityValidationError: naming the key the item would have had, or ``<new>``
            when the key fields themselves are invalid.
    """
    spec, table = catalog.entity(entity), catalog.table_of_entity(entity)
    managed = _managed_errors(spec, table, values)
    _raise_if(spec, _key_for_error(spec, table, values, managed), managed)
    candidate = {**values, "version": version, "created_at": now, "created_by": actor,
                 "updated_at": now, "updated_by": actor}
    plain = _validate(spec, candidate, lambda errors: _key_for_error(spec, table, values, errors))
    return from_dynamo(to_dynamo({**plain, **table.build_key(spec, plain)}))


def _validate(spec: EntitySpec, candidate: Mapping[str, Any],
              key_for_error: Callable[[list[tuple[str, str]]], str]) -> dict[str, Any]:
    """Validate through the model; the plain JSON values to store (None dropped)."""
    try:
        model = spec.model.model_validate(candidate)
    except ValidationError as exc:
        errors = [(_path(e["loc"]), _message(e)) for e in exc.errors()]
        raise EntityValidationError(spec.name, key_for_error(errors), errors) from None
    errors: list[tuple[str, str]] = []
    plain = _plain(model.model_dump(mode="python", exclude_none=True), (), errors)
    if errors:
        raise EntityValidationError(spec.name, key_for_error(errors), errors)
    return plain


def _plain(value: Any, path: tuple[Any, ...], errors: list[tuple[str, str]]) -> Any:
    """Model dump -> plain JSON: datetimes in the one format, None dropped from maps,
    NaN and infinities reported (DynamoDB numbers cannot be either)."""
    if isinstance(value, dict):
        return {k: _plain(v, (*path, k), errors) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v, (*path, i), errors) for i, v in enumerate(value)]
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)) and (problem := number_error(value)):
        errors.append((_path(path), problem))
    if isinstance(value, Decimal):
        return from_dynamo(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return to_jsonable_python(value)


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<item>"


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown attribute"
    return str(error["msg"])


def _raise_if(spec: EntitySpec, key: str, errors: list[tuple[str, str]]) -> None:
    if errors:
        raise EntityValidationError(spec.name, key, errors)


def _managed_errors(spec: EntitySpec, table: TableSpec, fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Audit fields and key attributes, which callers may not set."""
    errors = []
    for field in fields:
        if field in AUDIT_FIELDS:
            errors.append((field, "is maintained by the repository"))
        elif field in table.key_attrs and field not in spec.model.model_fields:
            errors.append((field, "is a key attribute, built from the entity's id fields"))
    return errors


def _key_fields(spec: EntitySpec, table: TableSpec) -> tuple[str, ...]:
    """The model fields the primary key is made of."""
    if table.style is KeyStyle.PLAIN:
        return table.key_attrs
    return tuple(dict.fromkeys(spec.template_fields()))


def _field_values(spec: EntitySpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate some fields alone (the model validates assignments) -> plain values."""
    model = spec.model.model_construct()
    for field, value in raw.items():
        setattr(model, field, value)
    return {f: _plain(getattr(model, f), (f,), []) for f in raw}


def _key_for_error(spec: EntitySpec, table: TableSpec, values: Mapping[str, Any],
                   errors: list[tuple[str, str]]) -> str:
    """The key a create would have written, or ``<new>`` if it cannot be built."""
    fields = _key_fields(spec, table)
    if any(path.split(".", 1)[0] in fields for path, _ in errors):
        return _NEW
    try:
        plain = _field_values(spec, {f: values[f] for f in fields})
        return table.key_of(table.build_key(spec, plain))
    except (KeyError, ValueError, PoisonRecordError):
        return _NEW


def _key_attrs(spec: EntitySpec, table: TableSpec, key: Key) -> dict[str, str]:
    """Primary-key attributes from a stable key string, the key attributes themselves,
    or the entity's id fields."""
    if isinstance(key, str):
        try:
            return table.key_dict(key)
        except ValueError as exc:
            raise EntityValidationError(spec.name, key, [("key", str(exc))]) from None
    if set(key) == set(table.key_attrs):
        return {a: str(key[a]) for a in table.key_attrs}
    fields = _key_fields(spec, table)
    errors = [(f, "key field missing") for f in fields if f not in key]
    errors += [(f, "is not a key field") for f in key if f not in fields]
    shown = "|".join(str(v) for v in key.values())
    _raise_if(spec, shown, errors)
    try:
        plain = _field_values(spec, key)
    except ValidationError as exc:
        errors = [(_path(e["loc"]), _message(e)) for e in exc.errors()]
        raise EntityValidationError(spec.name, shown, errors) from None
    return table.build_key(spec, plain)


def _update_expression(sets: Mapping[str, Any], removes: list[str], expected: int | None,
                       hash_key: str) -> dict[str, Any]:
    """UpdateItem arguments: SET the fields and ``version`` to the one read plus one,
    REMOVE some, on condition that the version is still the one read.

    Every name is a placeholder (``status``, ``name``, ``ttl``, ``date`` are reserved
    words), and DynamoDB refuses unused placeholders, so ``#h`` appears only when used.
    """
    names: dict[str, str] = {"#v": "version"}
    values: dict[str, Any] = {":next": (expected or 0) + 1}
    assignments = ["#v = :next"]
    for i, (field, value) in enumerate(sets.items()):
        names[f"#s{i}"] = field
        values[f":s{i}"] = value
        assignments.append(f"#s{i} = :s{i}")
    expression = "SET " + ", ".join(assignments)
    if removes:
        names.update({f"#r{i}": field for i, field in enumerate(removes)})
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
    if expected is None:  # an item some other writer stored without a version
        names["#h"] = hash_key
        condition = "attribute_exists(#h) AND attribute_not_exists(#v)"
    else:
        values[":expected"] = expected
        condition = "#v = :expected"
    return {
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": serialize_item(values),
    }


def _version_of(item: Mapping[str, Any] | None) -> int | None:
    version = (item or {}).get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None
