"""Sending one conditional write: alone, or with its history entry in one transaction.

Both forms report a failed condition the same way, as :class:`ConditionFailed` with the
stored item when DynamoDB handed it back (``ReturnValuesOnConditionCheckFailure``:
AWS since 2023, DynamoDB Local and moto too), so the repository maps refusals to
``ConflictError``/``NotFoundError`` once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from producers.history_items import history_put
from schemas.wire.dynamodb import deserialize_item

__all__ = ["ConditionFailed", "send_write"]

_CONDITION_FAILED = "ConditionalCheckFailedException"
_CANCELLED = "TransactionCanceledException"
_RETURN_OLD = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
_SINGLE_CALLS = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}
_SINGLE_RETURNS: dict[str, dict[str, str]] = {
    "Put": {},
    "Update": {"ReturnValues": "ALL_NEW"},
    "Delete": {"ReturnValues": "ALL_OLD"},
}


class ConditionFailed(Exception):
    """A write's condition failed.

    Attributes:
        item: the stored item (plain values) if DynamoDB returned it, else None.
        on_history: True when the history entry's condition failed (its slot was
            taken), not the write's own.
    """

    def __init__(self, item: dict[str, Any] | None, *, on_history: bool = False):
        super().__init__("condition failed on the history entry" if on_history else "condition failed")
        self.item = item
        self.on_history = on_history


def send_write(
    client: Any,
    kind: str,
    params: Mapping[str, Any],
    *,
    entry: Mapping[str, Any] | None = None,
    history_table: str | None = None,
) -> dict[str, Any]:
    """One ``Put``/``Update``/``Delete`` with its condition.

    Without ``entry``: the single-item call, returning its response (``Attributes`` is
    the new item of an update, the old item of a delete). With ``entry``: a
    ``TransactWriteItems`` of the write and the entry's ``Put``, returning ``{}``
    (transactions return no items).

    Raises:
        ConditionFailed: the write's (or the entry's) condition failed.
        ClientError: any other refusal.
    """
    if entry is None:
        try:
            return getattr(client, _SINGLE_CALLS[kind])(**params, **_SINGLE_RETURNS[kind], **_RETURN_OLD)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise
            item = exc.response.get("Item")
            raise ConditionFailed(deserialize_item(item) if item else None) from None
    try:
        # The token makes botocore's own retries of this call idempotent: a retry of a
        # transaction that did commit would otherwise fail its condition. moto ignores it.
        client.transact_write_items(
            TransactItems=[{kind: {**params, **_RETURN_OLD}}, history_put(str(history_table), entry)],
            ClientRequestToken=str(uuid.uuid4()),
        )
    except ClientError as exc:
        raise _cancelled(exc) from None
    return {}


def _cancelled(exc: ClientError) -> Exception:
    """The :class:`ConditionFailed` a cancelled transaction stands for, or ``exc``."""
    if exc.response.get("Error", {}).get("Code") != _CANCELLED:
        return exc
    reasons = exc.response.get("CancellationReasons") or []
    codes = [r.get("Code") for r in reasons]
    if codes[:1] == ["ConditionalCheckFailed"]:
        item = reasons[0].get("Item")
        return ConditionFailed(deserialize_item(item) if item else None)
    if codes[1:2] == ["ConditionalCheckFailed"]:
        return ConditionFailed(None, on_history=True)
    return exc
