"""Items read back by entity and key, as the drift checks' ``Expected`` states.

The checks that start from a projection's entries (is there still an item behind this
cache key, this document?) and the re-checks after a repair read items by key, in
batches, and turn each into its public state by the router's own rules
(:func:`consumers.verify.expected_states`), exactly as the scan-side check does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auxeira.operations.environment import Environment
from auxeira.operations.verify_scan import get_items
from consumers.verify import Expected, expected_states
from schemas import catalog
from schemas.tables import TableSpec

__all__ = ["ItemLookup"]


class ItemLookup:
    """Reads items of ``env`` by (entity, key); consistent reads, 100 keys a request."""

    def __init__(self, env: Environment):
        self.env = env

    def table_of(self, entity: str) -> tuple[TableSpec, str]:
        """The spec and physical name of the table holding ``entity``."""
        spec = catalog.table_of_entity(entity)
        return spec, self.env.table_name(spec)

    def items(self, entity: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Key -> item (AttributeValue map) for the keys of ``entity`` that exist."""
        spec, table = self.table_of(entity)
        return get_items(self.env.dynamodb, table, spec, keys)

    def expected(self, entity: str, keys: Iterable[str]) -> dict[str, Expected]:
        """Key -> the public state its item should project to, for the keys that have one.

        An item of another entity under the key (a single-table design) or one the router
        would refuse has no expected state here: for the projection, nothing should exist.
        """
        spec, _ = self.table_of(entity)
        found = self.items(entity, keys)
        return {exp.key: exp for exp in expected_states(spec, found.values(), findings=[]) if exp.entity == entity}
