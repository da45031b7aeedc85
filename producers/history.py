"""Reading the history the repository writes with ``history=True``.

Where history lives, and why (ADR, short): history entries are items of their own
table, written by the repository in the same ``TransactWriteItems`` as the change
(see :mod:`producers.history_items` for the layout). Rejected: rebuilding history from
the lake's raw events. The lake is fed asynchronously through the stream, the router
and a consumer, so a write's history would be late, and lost with any event the
pipeline dead-letters; reading one item's versions would scan date partitions instead
of one Query; and a hard delete's stream record carries no actor. The price of the
choice is a transactional write: about twice the write capacity of a plain conditional
write, plus the entry itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from producers.history_items import HISTORY_TABLE, history_pk
from producers.pagination import Page, decode_cursor, encode_cursor
from producers.write_plan import Key, resolve_target
from schemas import catalog
from schemas.tables import TableSpec
from schemas.wire.dynamodb import deserialize_item

__all__ = ["HISTORY_TABLE", "OMITTED", "SECRET", "HistoryEntry", "HistoryReader"]

#: Shown instead of a secret field's value (the value never reaches the history table).
SECRET = "<secret>"
#: Shown when an oversized entry left its ``after`` values out.
OMITTED = "<omitted>"


@dataclass(frozen=True)
class HistoryEntry:
    """One write of one item.

    Attributes:
        version: the version the write produced (a hard delete: the removed version + 1).
        generation: ``created_at`` of the item's life this write belongs to.
        action: ``create``, ``update``, ``soft_delete`` or ``delete``.
        changed: names of the top-level fields whose value changed.
        before: the public image before the write (None for a create).
        after: the new public values of the changed fields.
    """

    entity: str
    key: str
    version: int
    generation: str
    action: str
    actor: str
    at: str
    changed: tuple[str, ...]
    before: dict[str, Any] | None
    after: dict[str, Any]
    after_omitted: bool = False

    def diff(self) -> dict[str, tuple[Any, Any]]:
        """``field -> (old, new)`` for every changed field; None where absent, or
        :data:`SECRET` / :data:`OMITTED` where the value is not in the history."""
        secret = set(catalog.entity(self.entity).secret)
        out: dict[str, tuple[Any, Any]] = {}
        for field in self.changed:
            if field in secret:
                out[field] = (SECRET, SECRET)
            else:
                new = OMITTED if self.after_omitted else self.after.get(field)
                out[field] = ((self.before or {}).get(field), new)
        return out

    def as_json(self) -> dict[str, Any]:
        """Plain JSON form (``auxeira history --json``)."""
        return {
            "entity": self.entity,
            "key": self.key,
            "version": self.version,
            "generation": self.generation,
            "action": self.action,
            "actor": self.actor,
            "at": self.at,
            "changed": list(self.changed),
            "diff": {f: {"from": old, "to": new} for f, (old, new) in self.diff().items()},
            "before": self.before,
        }


def entry_from_item(item: dict[str, Any]) -> HistoryEntry:
    """A :class:`HistoryEntry` from a history item in plain values."""
    return HistoryEntry(
        entity=item["entity"],
        key=item["key"],
        version=int(item["version"]),
        generation=item["SK"].rsplit("#v", 1)[0],
        action=item["action"],
        actor=item["actor"],
        at=item["at"],
        changed=tuple(item.get("changed") or ()),
        before=item.get("before"),
        after=item.get("after") or {},
        after_omitted=bool(item.get("after_omitted")),
    )


class HistoryReader:
    """Versions of an item, oldest first, from the history table.

    Args:
        client: a boto3 low-level DynamoDB client.
        env: environment of the physical table names.
        table_prefix_resolver: as for :class:`~producers.repository.Repository`.
        cursor_secret: key of the page cursors' HMAC.
    """

    def __init__(
        self,
        client: Any,
        *,
        env: str,
        table_prefix_resolver: Callable[[TableSpec, str], str] | None = None,
        cursor_secret: bytes | None = None,
    ) -> None:
        self._client = client
        self._env = env
        self._resolve_name = table_prefix_resolver or (lambda table, env: table.physical_name(env))
        self._cursor_secret = cursor_secret

    @property
    def table_name(self) -> str:
        return self._resolve_name(HISTORY_TABLE, self._env)

    def page(
        self, entity: str, key: Key, *, limit: int = 50, cursor: str | None = None, newest_first: bool = False
    ) -> Page:
        """One page of entries of the item (``Page.items`` are :class:`HistoryEntry`).

        Raises:
            KeyError: unknown entity.
            EntityValidationError: malformed key.
            InvalidCursorError: the cursor is malformed, altered, or from another item.
        """
        pk = history_pk(entity, resolve_target(entity, key, lambda t: "").key_str)
        identity = f"history|{self.table_name}|{pk}|{newest_first}"
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "PK"},
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": not newest_first,
            "Limit": limit,
            "ConsistentRead": True,
        }
        if cursor is not None:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, identity, self._cursor_secret)
        response = self._client.query(**kwargs)
        entries = [entry_from_item(deserialize_item(i)) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return Page(entries, encode_cursor(last, identity, self._cursor_secret) if last else None)  # type: ignore[arg-type]

    def entries(self, entity: str, key: Key, *, newest_first: bool = False) -> Iterator[HistoryEntry]:
        """Every entry of the item, page after page."""
        cursor: str | None = None
        while True:
            page = self.page(entity, key, limit=100, cursor=cursor, newest_first=newest_first)
            yield from page.items  # type: ignore[misc]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def before(self, entity: str, key: Key, version: int) -> dict[str, Any] | None:
        """The public image the write of ``version`` replaced, in the latest generation
        that has that version (None for a create, or when there is no such entry)."""
        for entry in self.entries(entity, key, newest_first=True):
            if entry.version == version:
                return entry.before
        return None
