"""The pure half of the write path: validation, key resolution and update expressions.

Nothing here does I/O. :class:`~producers.repository.Repository` reads the stored item,
asks this module what to write (:func:`build_item` for a create, :func:`plan_update`
for an update or soft delete) and sends it; batch writes and the history items use the
same plans, so a write validates the same way whichever door it came through.

Values go in and come out as plain JSON (``str``, ``int``, ``float``, ``bool``,
``list``, ``dict``); every datetime is stored as
:func:`~schemas.wire.dynamodb.format_timestamp` writes it, so timestamps inside sort
keys sort by time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from schemas import catalog
from schemas.entities.base import AuditedModel
from schemas.errors import EntityValidationError, PoisonRecordError
from schemas.ids import entity_id_problem, tenant_problem
from schemas.tables import EntitySpec, KeyStyle, TableSpec
from schemas.wire.dynamodb import (
    MAX_ITEM_BYTES,
    format_timestamp,
    from_dynamo,
    item_size,
    number_error,
    serialize_item,
    to_dynamo,
    value_size,
)

__all__ = [
    "AUDIT_FIELDS",
    "NEW_KEY",
    "Key",
    "Target",
    "UpdatePlan",
    "build_item",
    "delete_condition",
    "managed_errors",
    "normalize",
    "plan_update",
    "raise_if",
    "resolve_target",
    "update_expression",
    "version_of",
]

#: Fields only the repository writes; ``values``/``changes`` may not name them.
AUDIT_FIELDS: frozenset[str] = frozenset(AuditedModel.model_fields)

#: The key an error names when the key fields themselves are invalid.
NEW_KEY = "<new>"

#: A stable key string (``"STARTUP#42|PROFILE"``) or the entity's id fields.
Key = str | Mapping[str, Any]


@dataclass(frozen=True)
class Target:
    """One item: its entity, table, physical table name and primary key."""

    spec: EntitySpec
    table: TableSpec
    table_name: str
    key: dict[str, str]
    key_str: str


@dataclass(frozen=True)
class UpdatePlan:
    """What an update writes: the whole new item and the UpdateItem arguments.

    Attributes:
        image: the item as it will be stored (plain values), which is also what a
            transactional write returns, since TransactWriteItems has no ``ALL_NEW``.
        expression: ``UpdateExpression``, ``ConditionExpression`` and their names and
            values, conditioned on the version that was read.
        stored_version: the version read (None for an item written without one).
    """

    image: dict[str, Any]
    expression: dict[str, Any]
    stored_version: int | None


# -- targets -----------------------------------------------------------------------------


def resolve_target(entity: str, key: Key, table_name: Callable[[TableSpec], str]) -> Target:
    """The item ``key`` names, checked to be a key of ``entity`` (not of a sibling entity).

    Raises:
        KeyError: the entity is unknown.
        EntityValidationError: the key is malformed or belongs to another entity.
    """
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
            raise_if(spec, key_str, [("key", f"is {what}, not a {spec.name} key")])
    return Target(spec, table, table_name(table), attrs, key_str)


# -- create ------------------------------------------------------------------------------


def build_item(
    entity: str, values: Mapping[str, Any], *, actor: str, now: datetime, version: int = 1
) -> dict[str, Any]:
    """The item :meth:`Repository.create` stores, without storing it: validated through
    the model, stamped ``created_*``/``updated_*`` with ``now`` and ``actor``, keyed, and
    in the plain form :meth:`Repository.get` would return.

    Raises:
        EntityValidationError: naming the key the item would have had, or ``<new>``
            when the key fields themselves are invalid.
    """
    spec, table = catalog.entity(entity), catalog.table_of_entity(entity)
    managed = managed_errors(spec, table, values)
    raise_if(spec, _key_for_error(spec, table, values, managed), managed)
    candidate = {
        **values,
        "version": version,
        "created_at": now,
        "created_by": actor,
        "updated_at": now,
        "updated_by": actor,
    }
    plain = _validate(spec, candidate, lambda errors: _key_for_error(spec, table, values, errors))
    return normalize({**plain, **table.build_key(spec, plain)})


# -- update ------------------------------------------------------------------------------


def plan_update(
    target: Target, current: Mapping[str, Any], changes: Mapping[str, Any], *, actor: str, now: datetime
) -> UpdatePlan:
    """Validate ``current`` with ``changes`` applied and plan the conditional UpdateItem.

    A change to None removes the field (or resets it to its model default). The whole
    item is validated, so what stays stored is valid; a key field may be repeated with
    its current value but not changed.

    Raises:
        EntityValidationError: the changed item would be invalid.
    """
    spec, table = target.spec, target.table
    stored = version_of(current)
    merged = {k: v for k, v in current.items() if k not in table.key_attrs or k in spec.model.model_fields}
    merged.update(changes)
    merged.update(version=(stored or 0) + 1, updated_at=now, updated_by=actor)
    merged = {k: v for k, v in merged.items() if v is not None}
    plain = _validate(spec, merged, lambda _errors: target.key_str)
    key_changes = [f for f in changes if f in _key_fields(spec, table)]
    if key_changes and table.build_key(spec, plain) != target.key:
        raise_if(spec, target.key_str, [(f, "is part of the key and cannot be changed") for f in key_changes])
    sets = {f: plain[f] for f in changes if f in plain}
    sets.update(updated_at=plain["updated_at"], updated_by=actor)
    removes = [f for f in changes if f not in plain]
    image = {k: v for k, v in {**current, **sets}.items() if k not in removes}
    image["version"] = (stored or 0) + 1
    return UpdatePlan(normalize(image), update_expression(sets, removes, stored, table.hash_key), stored)


def update_expression(
    sets: Mapping[str, Any], removes: list[str], expected: int | None, hash_key: str
) -> dict[str, Any]:
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


def delete_condition(expected: int | None, hash_key: str, *, read: bool) -> dict[str, Any]:
    """The condition that the item is still the one read (or simply exists).

    Args:
        expected: the version the item must have.
        read: True when ``expected`` is the version actually read, so None means the
            item was stored without a version (some other writer); False when None
            means "any version, as long as the item exists".
    """
    if expected is not None:
        return {
            "ConditionExpression": "#v = :expected",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":expected": {"N": str(expected)}},
        }
    if read:  # an item some other writer stored without a version
        return {
            "ConditionExpression": "attribute_exists(#h) AND attribute_not_exists(#v)",
            "ExpressionAttributeNames": {"#h": hash_key, "#v": "version"},
        }
    return {"ConditionExpression": "attribute_exists(#h)", "ExpressionAttributeNames": {"#h": hash_key}}


# -- validation --------------------------------------------------------------------------


def _validate(
    spec: EntitySpec, candidate: Mapping[str, Any], key_for_error: Callable[[list[tuple[str, str]]], str]
) -> dict[str, Any]:
    """Validate through the model; the plain JSON values to store (None dropped).

    Every problem is reported at once: when the model refuses some fields, numbers
    DynamoDB cannot store are looked for in the raw input too, so the caller does
    not fix one field only to be told about the next.
    """
    try:
        model = spec.model.model_validate(candidate)
    except ValidationError as exc:
        errors = [(_path(e["loc"]), _message(e)) for e in exc.errors()]
        reported = {path for path, _ in errors}
        extra: list[tuple[str, str]] = []
        _plain(dict(candidate), (), extra)
        errors += [(path, msg) for path, msg in extra if path not in reported]
        raise EntityValidationError(spec.name, key_for_error(errors), errors) from None
    errors = _id_errors(spec, candidate)
    plain = _plain(model.model_dump(mode="python", exclude_none=True), (), errors)
    size = item_size(plain)
    if size > MAX_ITEM_BYTES - _KEY_AND_AUDIT_ROOM:
        name = max(plain, key=lambda n: len(n.encode()) + value_size(plain[n]))
        errors.append(
            (
                name,
                f"makes the item {size} bytes; DynamoDB stores at most {MAX_ITEM_BYTES} "
                f"(this attribute alone is {value_size(plain[name])} bytes)",
            )
        )
    if errors:
        raise EntityValidationError(spec.name, key_for_error(errors), errors)
    return plain


#: Room kept for the key attributes the repository adds after validation.
_KEY_AND_AUDIT_ROOM = 2 * 1024


def _id_errors(spec: EntitySpec, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Ids that would break a key layout (:mod:`schemas.ids`): the tenant and every key field."""
    errors = []
    tenant = values.get(spec.tenant_attr)
    if isinstance(tenant, str) and (problem := tenant_problem(tenant)):
        errors.append((spec.tenant_attr, problem))
    for name in spec.template_fields():
        value = values.get(name)
        if isinstance(value, str) and (problem := entity_id_problem(value)):
            errors.append((name, problem))
    return errors


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


def normalize(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values exactly as a read would return them (``10.0`` comes back ``10``)."""
    return from_dynamo(to_dynamo(dict(item)))


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<item>"


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown attribute"
    return str(error["msg"]).removeprefix("Value error, ")


def raise_if(spec: EntitySpec, key: str, errors: list[tuple[str, str]]) -> None:
    """Raise :class:`EntityValidationError` when ``errors`` is not empty."""
    if errors:
        raise EntityValidationError(spec.name, key, errors)


def managed_errors(spec: EntitySpec, table: TableSpec, fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Audit fields and key attributes, which callers may not set."""
    errors = []
    for field in fields:
        if field in AUDIT_FIELDS:
            errors.append((field, "is maintained by the repository"))
        elif field in table.key_attrs and field not in spec.model.model_fields:
            errors.append((field, "is a key attribute, built from the entity's id fields"))
    return errors


def version_of(item: Mapping[str, Any] | None) -> int | None:
    """The item's ``version`` attribute, or None when it has none (or no item)."""
    version = (item or {}).get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


# -- keys --------------------------------------------------------------------------------


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


def _key_for_error(spec: EntitySpec, table: TableSpec, values: Mapping[str, Any], errors: list[tuple[str, str]]) -> str:
    """The key a create would have written, or ``<new>`` if it cannot be built."""
    fields = _key_fields(spec, table)
    if any(path.split(".", 1)[0] in fields for path, _ in errors):
        return NEW_KEY
    try:
        plain = _field_values(spec, {f: values[f] for f in fields})
        return table.key_of(table.build_key(spec, plain))
    except (KeyError, ValueError, PoisonRecordError):
        return NEW_KEY


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
    raise_if(spec, shown, errors)
    try:
        plain = _field_values(spec, key)
    except ValidationError as exc:
        errors = [(_path(e["loc"]), _message(e)) for e in exc.errors()]
        raise EntityValidationError(spec.name, shown, errors) from None
    return table.build_key(spec, plain)
