"""Which tenant ids, entity ids and keys the pipeline accepts, so no id can break a key layout.

Keys are built by joining parts: the cache key ``aux:{env}:{tenant}:{entity}:{key}`` (a
scan of one tenant matches ``aux:{env}:{tenant}:*``), the counter item
``{tenant}#{PARENT}#{id}``, the stable item key ``PK|SK``, key templates such as
``STARTUP#{startup_id}``. A tenant containing ``:`` would make one tenant's scan match
another's keys; an id containing ``|`` or ``#`` could not be read back by its own key.

* a **tenant id** is 1 to 128 of ``A-Z a-z 0-9 _ . @ + -``, starting with a letter or a digit;
* an **entity id** (a value a key template puts between separators) has no ``|``, ``#``,
  control character or whitespace at its ends, and at most 256 characters;
* an item **key** (what the router reads from a foreign writer's item) has no control
  character and at most 2,048 characters (DynamoDB's own bound on a sort key is 1,024
  bytes, on a partition key 2,048).

The repository and the publisher refuse a bad id before writing, naming the field; the
router refuses (dead-letters) an item a foreign writer stored with one.
"""

from __future__ import annotations

import re

__all__ = ["TENANT_ID", "entity_id_problem", "id_problem", "tenant_problem"]

TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENTITY_FORBIDDEN = re.compile(r"[|#\x00-\x1f\x7f]")


def tenant_problem(value: str) -> str | None:
    """Why ``value`` cannot be a tenant id, or None."""
    if TENANT_ID.fullmatch(value):
        return None
    return "is not a tenant id (1-128 of letters, digits, _ . @ + -, starting with a letter or digit)"


def entity_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an id inside a key template, or None."""
    if not value or len(value) > 256 or value != value.strip():
        return "must be 1-256 characters with no surrounding whitespace"
    if _ENTITY_FORBIDDEN.search(value):
        return "must not contain '|', '#' or a control character (they separate key parts)"
    return None


def id_problem(value: str, *, key: bool = False) -> str | None:
    """Why ``value`` cannot be a tenant (or, with ``key``, an item key), or None."""
    if not key:
        return tenant_problem(value)
    if not value or len(value) > 2048 or _CONTROL.search(value):
        return "must be 1-2048 characters with no control character"
    return None
