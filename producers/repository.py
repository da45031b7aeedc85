"""The write path: every entity of :mod:`schemas.catalog` goes to DynamoDB through here.

Every write is validated through the entity's model, stamped with the audit fields
(``created_*``, ``updated_*``, ``deleted_*``) and guarded by the ``version`` attribute,
which starts at 1 and grows by one on every write. The stream router copies that
version into each envelope, so the guard here is what lets projections drop stale
events. What to write is decided by the pure :mod:`producers.write_plan`; this module
reads, sends, and turns DynamoDB's refusals into :class:`ConflictError` and
:class:`NotFoundError`.

With ``history=True`` every write also stores a history entry
(:mod:`producers.history_items`) in the same ``TransactWriteItems``: the change and its
entry are stored together or not at all.

Values go in and come out as plain JSON (``str``, ``int``, ``float``, ``bool``,
``list``, ``dict``). Every datetime is stored as
:func:`~schemas.wire.dynamodb.format_timestamp` writes it
(``2026-01-02T03:04:05.123456Z``), so timestamps inside sort keys sort by time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, NoReturn

from producers.batch_write import BatchResult, WriteOperation, run_batch
from producers.conditional_write import ConditionFailed, send_write
from producers.history_items import HISTORY_TABLE, history_item
from producers.pagination import (
    MAX_LIMIT,
    InvalidQueryError,
    Page,
    SortCondition,
    decode_cursor,
    encode_cursor,
    plan_query,
    projection_expression,
)
from producers.write_plan import (
    AUDIT_FIELDS,
    Key,
    Target,
    build_item,
    delete_condition,
    managed_errors,
    plan_update,
    raise_if,
    resolve_target,
    version_of,
)
from schemas import catalog
from schemas.errors import ConflictError, NotFoundError
from schemas.tables import TableSpec
from schemas.wire.dynamodb import deserialize_item, format_timestamp, serialize_item, utc_now

__all__ = ["AUDIT_FIELDS", "Key", "Page", "Repository", "TableNameResolver", "build_item", "utc_now"]

log = logging.getLogger(__name__)

#: ``(table spec, env) -> physical table name``; the default is ``spec.physical_name(env)``.
TableNameResolver = Callable[[TableSpec, str], str]


class Repository:
    """Validated, versioned writes of catalog entities to DynamoDB.

    Args:
        client: a boto3 low-level DynamoDB client (``boto3.client("dynamodb")``).
        env: the environment part of the physical table names (``dev``, ``prod``).
        clock: returns the current time for the audit fields.
        table_prefix_resolver: ``(table spec, env) -> physical table name``, to put the
            tables somewhere else than ``spec.physical_name(env)`` (test prefixes). The
            history table goes through it too, as ``HISTORY_TABLE``.
        history: store a history entry with every write, atomically (needs the
            history table, ``schemas.resources.HISTORY_TABLE``).
        cursor_secret: key of the list cursors' HMAC (see :mod:`producers.pagination`).
        max_workers: threads of :meth:`batch_write`.
    """

    def __init__(
        self,
        client: Any,
        *,
        env: str,
        clock: Callable[[], datetime] = utc_now,
        table_prefix_resolver: TableNameResolver | None = None,
        history: bool = False,
        cursor_secret: bytes | None = None,
        max_workers: int = 4,
    ) -> None:
        self._client = client
        self._env = env
        self._clock = clock
        self._resolve_name = table_prefix_resolver or (lambda table, env: table.physical_name(env))
        self._history = history
        self._cursor_secret = cursor_secret
        self._max_workers = max_workers

    @property
    def history_table(self) -> str | None:
        """Physical name of the history table, or None when history is off."""
        return self._table_name(HISTORY_TABLE) if self._history else None

    # -- reads -----------------------------------------------------------------------

    def get(
        self, entity: str, key: Key, *, consistent: bool = True, fields: str | Iterable[str] | None = None
    ) -> dict[str, Any] | None:
        """The stored item (with its key attributes) or None.

        Args:
            fields: ``"a,b,c"`` or a list: return only those fields (a ProjectionExpression).

        Raises:
            InvalidQueryError: ``fields`` names an unknown field.
        """
        target = self._target(entity, key)
        if fields is None:
            return self._read(target, consistent=consistent)
        expression, names = projection_expression(target.spec, target.table, _fields(fields))
        response = self._client.get_item(
            TableName=target.table_name,
            Key=serialize_item(target.key),
            ConsistentRead=consistent,
            ProjectionExpression=expression,
            ExpressionAttributeNames=names,
        )
        item = response.get("Item")
        return None if item is None else deserialize_item(item)

    def list(
        self,
        entity: str,
        *,
        partition: Any,
        index: str | None = None,
        key_condition: SortCondition | None = None,
        limit: int = 50,
        cursor: str | None = None,
        fields: str | Iterable[str] | None = None,
        consistent: bool = False,
    ) -> Page:
        """One page of the items of ``entity`` in a partition of its table or of a GSI.

        Args:
            partition: see :func:`producers.pagination.plan_query` (``{"startup_id": "s1"}``
                for a startup's activities; ``"venture_capital"`` on ``UserTypeIndex``).
            key_condition: ``("between", lo, hi)``, ``(">=", v)``, ``("begins_with", p)``
                or a bare value for equality, on the sort attribute.
            limit: most items in the page (1 to 1000). The page is filled even when
                another entity's items share the partition.
            cursor: ``next_cursor`` of the previous page of the same query.
            fields: ``"a,b,c"`` or a list: only those fields are returned.
            consistent: strongly consistent read (the table only; GSIs cannot).

        Raises:
            InvalidQueryError: an unknown field or index, a malformed condition, a bad limit.
            InvalidCursorError: the cursor is malformed, altered, or from another query.
        """
        spec, table = catalog.entity(entity), catalog.table_of_entity(entity)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidQueryError(entity, "limit", f"must be 1 to {MAX_LIMIT}, got {limit}")
        if consistent and index is not None:
            raise InvalidQueryError(entity, "consistent", "a GSI cannot be read consistently")
        plan = plan_query(
            spec,
            table,
            self._table_name(table),
            partition=partition,
            index=index,
            key_condition=key_condition,
            fields=None if fields is None else _fields(fields),
        )
        start = decode_cursor(cursor, plan.identity, self._cursor_secret) if cursor is not None else None
        items: list[dict[str, Any]] = []
        while True:  # a filter can leave a page short: keep going until it is full
            kwargs = {**plan.kwargs, "Limit": limit - len(items)}
            if start:
                kwargs["ExclusiveStartKey"] = start
            if consistent:
                kwargs["ConsistentRead"] = True
            response = self._client.query(**kwargs)
            items += [deserialize_item(i) for i in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if not start or len(items) >= limit:
                break
        next_cursor = encode_cursor(start, plan.identity, self._cursor_secret) if start else None
        return Page(items, next_cursor)

    # -- writes ----------------------------------------------------------------------

    def create(self, entity: str, values: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
        """Store a new item at version 1; returns it as :meth:`get` would.

        Raises:
            EntityValidationError: a field is invalid, unknown or repository-managed.
            ConflictError: an item with that key exists (``actual`` is its version).
        """
        item = build_item(entity, values, actor=actor, now=self._clock())
        table = catalog.table_of_entity(entity)
        target = Target(
            catalog.entity(entity),
            table,
            self._table_name(table),
            {a: item[a] for a in table.key_attrs},
            table.key_of(item),
        )
        params = {
            "TableName": target.table_name,
            "Item": serialize_item(item),
            "ConditionExpression": "attribute_not_exists(#h)",
            "ExpressionAttributeNames": {"#h": table.hash_key},
        }
        try:
            self._send("Put", params, target, "create", actor, None, item)
        except ConditionFailed as failed:
            old = failed.item if failed.item is not None else self._read(target, consistent=True)
            raise ConflictError(entity, target.key_str, None, version_of(old)) from None
        return item

    def update(
        self, entity: str, key: Key, changes: Mapping[str, Any], *, actor: str, expected_version: int | None = None
    ) -> dict[str, Any]:
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
        raise_if(target.spec, target.key_str, managed_errors(target.spec, target.table, changes))
        return self._modify(target, changes, actor, expected_version, self._clock(), "update")

    def soft_delete(
        self, entity: str, key: Key, *, actor: str, reason: str, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Mark the item deleted (``deleted_at/by/reason``); it stays in the table."""
        target = self._target(entity, key)
        now = self._clock()
        changes = {"deleted_at": now, "deleted_by": actor, "deleted_reason": reason}
        return self._modify(target, changes, actor, expected_version, now, "soft_delete")

    def delete(self, entity: str, key: Key, *, actor: str, expected_version: int | None = None) -> dict[str, Any]:
        """Remove the item; returns what was removed.

        Without ``expected_version`` the item only has to exist. DynamoDB keeps no trace
        of who removed an item (the stream's REMOVE record carries no attributes of
        ours): with history on, the entry records ``actor``; without, it is only logged.
        """
        target = self._target(entity, key)
        log.info("delete %s %r by %s", target.spec.name, target.key_str, actor)
        if self._history:
            return self._delete_with_history(target, actor, expected_version)
        params = {
            "TableName": target.table_name,
            "Key": serialize_item(target.key),
            **delete_condition(expected_version, target.table.hash_key, read=False),
        }
        try:
            response = self._send("Delete", params, target, "delete", actor, None, None)
        except ConditionFailed as failed:
            self._raise_conflict(failed, target, expected_version)
        return deserialize_item(response.get("Attributes") or {})

    def batch_write(
        self, operations: Iterable[Mapping[str, Any] | WriteOperation], *, actor: str, max_workers: int | None = None
    ) -> BatchResult:
        """Run many writes; one result per operation, never an exception for one of them.

        Operations are mappings: ``{"op": "create", "entity": e, "values": {...}}``,
        ``{"op": "update", "entity": e, "key": k, "changes": {...}, "expected_version": n}``,
        ``{"op": "soft_delete", ..., "key": k, "reason": r}``, ``{"op": "delete", ..., "key": k}``.
        See :mod:`producers.batch_write` for the primitive chosen and the ordering.

        Returns:
            ``{"results": [{"index", "op", "entity", "key", "status", "version", "error"}],
            "summary": {"total", "succeeded", "failed"}}``; ``error`` names the type, the
            message and the offending fields.
        """

        def locate(op: WriteOperation) -> tuple[str, str]:
            if op.op == "create":  # validates now, so an invalid item fails before any I/O
                table = catalog.table_of_entity(op.entity)
                key = table.key_of(build_item(op.entity, op.values, actor=actor, now=utc_now()))
            else:
                target = self._target(op.entity, op.key)
                table, key = target.table, target.key_str
            return f"{table.name}|{key}", key

        def execute(op: WriteOperation) -> dict[str, Any]:
            if op.op == "create":
                return self.create(op.entity, op.values, actor=actor)
            if op.op == "update":
                return self.update(op.entity, op.key, op.changes, actor=actor, expected_version=op.expected_version)
            if op.op == "soft_delete":
                return self.soft_delete(
                    op.entity, op.key, actor=actor, reason=op.reason, expected_version=op.expected_version
                )
            return self.delete(op.entity, op.key, actor=actor, expected_version=op.expected_version)

        workers = self._max_workers if max_workers is None else max_workers
        return run_batch(operations, locate=locate, execute=execute, max_workers=workers)

    # -- internals ---------------------------------------------------------------------

    def _modify(
        self,
        target: Target,
        changes: Mapping[str, Any],
        actor: str,
        expected_version: int | None,
        now: datetime,
        action: str,
    ) -> dict[str, Any]:
        """Conditional partial update, in this order:

        1. read the item (consistent) -> NotFoundError if absent;
        2. compare its version with ``expected_version`` -> ConflictError, no write;
        3. validate the whole item with the changes applied, so what stays stored is valid;
        4. UpdateItem the changed fields, ``updated_*`` and ``version + 1``, on condition
           that the version is still the one read (with the history entry, in one
           transaction); losing that race -> ConflictError.
        """
        current, stored = self._read_expected(target, expected_version)
        plan = plan_update(target, current, changes, actor=actor, now=now)
        params = {"TableName": target.table_name, "Key": serialize_item(target.key), **plan.expression}
        try:
            response = self._send("Update", params, target, action, actor, current, plan.image)
        except ConditionFailed as failed:
            self._raise_conflict(failed, target, stored)
        attributes = response.get("Attributes")
        return deserialize_item(attributes) if attributes else plan.image

    def _delete_with_history(self, target: Target, actor: str, expected_version: int | None) -> dict[str, Any]:
        """Read, check the version, then delete on condition that it is still the one read
        (TransactWriteItems cannot return the old item, and the entry needs it)."""
        current, stored = self._read_expected(target, expected_version)
        params = {
            "TableName": target.table_name,
            "Key": serialize_item(target.key),
            **delete_condition(stored, target.table.hash_key, read=True),
        }
        try:
            self._send("Delete", params, target, "delete", actor, current, None)
        except ConditionFailed as failed:
            self._raise_conflict(failed, target, stored)
        return current

    def _read_expected(self, target: Target, expected_version: int | None) -> tuple[dict[str, Any], int | None]:
        """The stored item and its version (consistent read), checked against the expected one.

        Raises:
            NotFoundError: no item has that key.
            ConflictError: its version is not ``expected_version``; nothing was written.
        """
        current = self._read(target, consistent=True)
        if current is None:
            raise NotFoundError(f"{target.spec.name} {target.key_str!r} not found")
        stored = version_of(current)
        if expected_version is not None and expected_version != stored:
            raise ConflictError(target.spec.name, target.key_str, expected_version, stored)
        return current, stored

    def _send(
        self,
        kind: str,
        params: dict[str, Any],
        target: Target,
        action: str,
        actor: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """One conditional write, with its history entry when history is on.

        Raises:
            ConditionFailed: the write's (or the entry's) condition failed.
        """
        if not self._history:
            return send_write(self._client, kind, params)
        at = (after or {}).get("updated_at") or format_timestamp(self._clock())
        entry = history_item(
            target.spec, target.table, target.key_str, action=action, actor=actor, at=at, before=before, after=after
        )
        return send_write(self._client, kind, params, entry=entry, history_table=self.history_table)

    def _target(self, entity: str, key: Key) -> Target:
        return resolve_target(entity, key, self._table_name)

    def _table_name(self, table: TableSpec) -> str:
        return self._resolve_name(table, self._env)

    def _read(self, target: Target, *, consistent: bool) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=target.table_name, Key=serialize_item(target.key), ConsistentRead=consistent
        )
        item = response.get("Item")
        return None if item is None else deserialize_item(item)

    def _raise_conflict(self, failed: ConditionFailed, target: Target, expected: int | None) -> NoReturn:
        """NotFoundError if the item is gone, else ConflictError with the version that won.

        ``ReturnValuesOnConditionCheckFailure`` hands the item back with the error (AWS,
        2023); clients or emulators that do not get a consistent read instead.
        """
        if failed.on_history:  # another write already claimed this version's entry
            raise ConflictError(target.spec.name, target.key_str, expected, None) from None
        old = failed.item if failed.item is not None else self._read(target, consistent=True)
        if old is None:
            raise NotFoundError(f"{target.spec.name} {target.key_str!r} not found") from None
        raise ConflictError(target.spec.name, target.key_str, expected, version_of(old)) from None


def _fields(fields: str | Iterable[str]) -> str | list[str]:
    return fields if isinstance(fields, str) else list(fields)
