"""The cache projection: one envelope -> the cache mutations it asks for. Pure, no I/O.

The cache mirrors each table item's public state (and each published *state* fact, a
startup's Stripe MRR), keyed by environment, tenant, entity and key:
``aux:{env}:{tenant}:{entity}:{key}``. Every mutation carries the envelope's order
(:attr:`schemas.envelope.Envelope.order`), so a sink drops duplicates and stale arrivals.

* created / updated / soft_deleted / snapshot -> :class:`CacheSet` of ``envelope.after``
  (a soft-deleted item keeps its ``deleted_at`` and stays cached, as it stays in its table);
* recorded, for a published state -> :class:`CacheSet`;
* deleted / expired -> :class:`CacheDelete` (a tombstone);
* an update that moves the item to another tenant also leaves a tombstone under the old
  tenant's key, so the old tenant can no longer read it;
* anything else (a published occurrence such as a page view, an event type this
  consumer does not know yet) -> nothing: the record is skipped and counted, never poison.

The state is cached as its envelope JSON (exact numbers and binaries as tags,
:mod:`schemas.wire.json_values`); readers decode it with ``from_json``.
"""

from __future__ import annotations

import orjson

from consumers.projections.mutations import MAX_VERSION, CacheDelete, CacheMutation, CacheSet
from schemas import catalog
from schemas.envelope import Envelope
from schemas.errors import PoisonRecordError
from schemas.events import REGISTRY

__all__ = ["cache_key", "is_cached", "project", "tenant_prefix"]

_SETS = frozenset({"created", "updated", "soft_deleted", "snapshot"})
_DELETES = frozenset({"deleted", "expired"})


def cache_key(namespace: str, tenant: str, entity: str, key: str) -> str:
    """The Redis key of one entity: ``aux:{env}:{tenant}:{entity}:{key}``."""
    return f"aux:{namespace}:{tenant}:{entity}:{key}"


def tenant_prefix(namespace: str, tenant: str | None) -> str:
    """The key prefix of one tenant (``aux:{env}:{tenant}:``), or of the environment (``aux:{env}:``)."""
    return f"aux:{namespace}:" if tenant is None else f"aux:{namespace}:{tenant}:"


def is_cached(envelope: Envelope) -> bool:
    """Table entities, and published *state* facts, are cached.

    Published *occurrences* (a page view, a chatbot turn) each have a key of their own
    that nobody reads back by key: caching them would grow Redis with traffic. They
    reach the lake and, where searchable, the index.
    """
    if envelope.entity in catalog.ENTITIES:
        return True
    model = REGISTRY.model(envelope.entity)
    return model is not None and model.kind == "state" and envelope.event_type.endswith(".recorded")


def project(envelope: Envelope, namespace: str = "local") -> list[CacheMutation]:
    """The cache mutations an envelope asks for (none for what the cache does not hold).

    Raises:
        PoisonRecordError: a set without an ``after`` image, an order the cache cannot
            store, or a state that is not JSON; the message names the event.
    """
    if not is_cached(envelope):
        return []
    action = envelope.event_type.rpartition(".")[2]
    order = envelope.order
    if order > MAX_VERSION:
        raise _poison(envelope, f"order {order} has more than {len(str(MAX_VERSION))} digits")
    key = cache_key(namespace, envelope.tenant_id, envelope.entity, envelope.key)
    if action in _DELETES:
        return [CacheDelete(key, order)]
    if action not in _SETS and action != "recorded":
        return []
    if envelope.after is None:
        raise _poison(envelope, "has no after image to cache")
    try:
        state = orjson.dumps(envelope.after)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise _poison(envelope, f"state is not JSON-encodable: {exc}") from exc
    out: list[CacheMutation] = [CacheSet(key, order, state)]
    moved_from = _previous_tenant(envelope)
    if moved_from is not None:
        out.append(CacheDelete(cache_key(namespace, moved_from, envelope.entity, envelope.key), order))
    return out


def _previous_tenant(envelope: Envelope) -> str | None:
    """The tenant the item belonged to before this change, when it was another."""
    spec = catalog.ENTITIES.get(envelope.entity)
    if spec is None or not envelope.before:
        return None
    before = envelope.before.get(spec.tenant_attr)
    return str(before) if before and str(before) != envelope.tenant_id else None


def _poison(envelope: Envelope, why: str) -> PoisonRecordError:
    return PoisonRecordError(f"cache projection: event {envelope.event_id} ({envelope.event_type}): {why}")
