"""Base class of every entity model: validation rules and the audit fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuditedModel", "EntityModel", "Json", "TenantModel"]

#: A nested attribute kept as plain JSON (maps, lists of maps).
Json = dict[str, Any]


class EntityModel(BaseModel):
    """Strict model: unknown attributes are errors, so a typo never reaches a table."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True, allow_inf_nan=False)


class AuditedModel(EntityModel):
    """Audit and lifecycle fields the repository maintains on every item.

    ``version`` starts at 1 and grows by one on every write (optimistic concurrency and
    the staleness order of every projection). ``deleted_*`` mark a soft delete.
    """

    version: int | None = Field(default=None, ge=1)
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    deleted_at: datetime | None = None
    deleted_by: str | None = None
    deleted_reason: str | None = None


class TenantModel(AuditedModel):
    """Auxeira entities: each belongs to one tenant (an accelerator programme or fund)."""

    tenant_id: str = Field(min_length=1)
