"""Field classes: every attribute is public, pii or secret.

Secret fields (password hashes, tokens, tax ids) never leave their table: the router
drops them before an envelope exists, so no projection, lake file or dead letter can
hold one. PII fields travel (the cache and search need names and emails) but are
marked so erasure and masking can find them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

__all__ = ["FieldClass", "drop_paths"]


class FieldClass(StrEnum):
    """How sensitive an attribute is."""

    PUBLIC = "public"
    PII = "pii"
    SECRET = "secret"


def drop_paths(item: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``item`` without the dotted ``paths`` (``"company_details.tax_id"``).

    Only the dictionaries on a dropped path are copied; everything else is shared, which
    keeps this cheap on the router's hot path.
    """
    out = dict(item)
    for path in paths:
        _drop(out, path.split("."))
    return out


def _drop(node: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in node:
        return
    if not rest:
        del node[head]
        return
    child = node[head]
    if isinstance(child, dict):
        node[head] = dict(child)
        _drop(node[head], rest)
