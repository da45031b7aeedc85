"""Field classes: every attribute is public, pii or secret.

Secret fields (password hashes, tokens, tax ids) never leave their table: the router
drops them before an envelope exists, so no projection, lake file or dead letter can
hold one (the policy and its deny-list: :mod:`schemas.secrets`). PII fields travel (the cache and search need names and emails) but are
marked so erasure and masking can find them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FieldClass"]


class FieldClass(StrEnum):
    """How sensitive an attribute is."""

    PUBLIC = "public"
    PII = "pii"
    SECRET = "secret"
