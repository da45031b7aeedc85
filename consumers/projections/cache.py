"""The cache projection: one envelope -> one cache mutation. Pure, no I/O.

The cache mirrors each table item's public state, keyed by tenant, entity and key:

* created / updated / soft_deleted -> :class:`CacheSet` of ``envelope.after``; a
  soft-deleted item keeps its ``deleted_at`` and stays cached, as it stays in the table;
* recorded (a published fact with no table) -> :class:`CacheSet` as well;
* deleted / expired -> :class:`CacheDelete` (a tombstone).
"""

from __future__ import annotations

import json

import orjson

from consumers.projections.mutations import MAX_VERSION, CacheDelete, CacheMutation, CacheSet
from schemas.envelope import Action, Envelope
from schemas.errors import PoisonRecordError

__all__ = ["cache_key", "project"]

_SETS = frozenset({Action.CREATED, Action.UPDATED, Action.SOFT_DELETED, Action.RECORDED})
# Listed rather than derived from Action.removes so that a new Action member is
# poison here until someone decides what the cache does with it.
_DELETES = frozenset({Action.DELETED, Action.EXPIRED})
_KNOWN = frozenset(a.value for a in Action)


def cache_key(tenant: str, entity: str, key: str) -> str:
    """The Redis key of one entity: ``aux:{tenant}:{entity}:{key}``."""
    return f"aux:{tenant}:{entity}:{key}"


def project(envelope: Envelope) -> CacheMutation:
    """The cache mutation an envelope asks for.

    Raises:
        PoisonRecordError: unknown action, a set without an ``after`` image, a version
            the cache cannot order, or a state orjson cannot encode. The message names
            the event type and event id.
    """
    # The action as a plain string: StrEnum members hash and compare as their values,
    # and this skips building an Action on the hot path (one call per event).
    action = envelope.event_type.rpartition(".")[2]
    if envelope.version > MAX_VERSION:
        raise _poison(envelope, f"version {envelope.version} has more than 40 digits")
    redis_key = cache_key(envelope.tenant_id, envelope.entity, envelope.key)
    if action in _DELETES:
        return CacheDelete(redis_key, envelope.version)
    if action not in _SETS:
        why = "the cache has no rule for action" if action in _KNOWN else "unknown action"
        raise _poison(envelope, f"{why} {action!r}")
    if envelope.after is None:
        raise _poison(envelope, "has no after image to cache")
    try:
        state = orjson.dumps(envelope.after)
    except orjson.JSONEncodeError:
        state = _dumps_slow(envelope)
    return CacheSet(redis_key, envelope.version, state)


def _dumps_slow(envelope: Envelope) -> bytes:
    """JSON via the standard library, for what orjson refuses: integers beyond 64 bits,
    which DynamoDB numbers (38 significant digits) can hold."""
    try:
        return json.dumps(envelope.after, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise _poison(envelope, f"state is not JSON-encodable: {exc}") from exc


def _poison(envelope: Envelope, why: str) -> PoisonRecordError:
    return PoisonRecordError(f"cache projection: event {envelope.event_id} ({envelope.event_type}): {why}")
