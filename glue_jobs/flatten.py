"""One envelope -> one curated row: the reference flattening both engines produce.

The row holds the envelope's columns, the entity's columns filled from ``after`` by the
rules of :mod:`glue_jobs.values`, ``_extra`` and ``_order`` (see :mod:`glue_jobs.tables`),
and the partition ``dt``. ``after`` is None for a delete or an expiry: the row records
the change, its entity columns are null.

What goes to ``_extra`` (JSON, null when empty): every attribute of ``after`` the model
does not know (a field a newer producer added), and every value that did not fit its
column, each under its own name (nested ones under their struct's name). Attributes a
key already holds (``PK``, ``SK``) and the model's secret fields are neither; neither is
any attribute with a secret-looking name (:func:`schemas.secrets.is_secret_name`), which
the router has dropped already: the lake never relies on that alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from decimal import Decimal
from typing import Any

import orjson

from glue_jobs.pii import Tokenizer
from glue_jobs.tables import DT, EXTRA, ORDER, LakeTable
from glue_jobs.values import MISSING, convert
from schemas.envelope import ORDER_DIGITS, Envelope
from schemas.secrets import is_secret_name

__all__ = ["entity_values", "envelope_values", "extra_text", "flatten", "order_text"]


def order_text(envelope: Envelope) -> str:
    """The envelope's order as :data:`~schemas.envelope.ORDER_DIGITS` digits (string order is order)."""
    return f"{envelope.order:0{ORDER_DIGITS}d}"


def envelope_values(table: LakeTable, envelope: Envelope) -> dict[str, Any]:
    """The envelope's columns of a row, under this table's names."""
    occurred = envelope.occurred_at
    if occurred.tzinfo is not None:
        occurred = occurred.astimezone(UTC).replace(tzinfo=None)
    names = table.envelope
    return {
        names["event_id"]: envelope.event_id,
        names["event_type"]: envelope.event_type,
        names["version"]: Decimal(envelope.version),
        names["occurred_at"]: occurred,
        names["tenant_id"]: envelope.tenant_id,
        names["key"]: envelope.key,
        names["actor"]: envelope.actor,
    }


def flatten(table: LakeTable, envelope: Envelope, tokenizer: Tokenizer) -> dict[str, Any]:
    """The curated row of one envelope (see the module docstring)."""
    row = envelope_values(table, envelope)
    entity, extra = entity_values(table, envelope.after, tokenizer)
    row.update(entity)
    row[EXTRA] = extra_text(extra)
    row[ORDER] = order_text(envelope)
    row[DT] = row[table.envelope["occurred_at"]].date().isoformat()
    return row


def entity_values(
    table: LakeTable, after: Mapping[str, Any] | None, tokenizer: Tokenizer
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(entity columns, leftovers for _extra)`` of one ``after`` image."""
    after = after or {}
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for column in table.fields:
        out[column.name], left = convert(column, after.get(column.name), tokenizer)
        if left is not MISSING:
            extra[column.name] = left
    known = table.known
    for name, value in after.items():
        if name not in known and not is_secret_name(name):
            extra[name] = value
    return out, extra


def extra_text(extra: Mapping[str, Any]) -> str | None:
    return orjson.dumps(dict(extra)).decode("utf-8") if extra else None
