"""Base class of every entity model: validation rules and the audit fields."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = ["AuditedModel", "EntityModel", "Json", "TenantModel"]

#: A nested attribute kept as plain JSON (maps, lists of maps).
Json = dict[str, Any]


class EntityModel(BaseModel):
    """Strict model: unknown attributes are errors, so a typo never reaches a table.

    Numbers are numbers: pydantic's lax mode turns ``True`` into ``1`` for an ``int``
    field (``sse_score=True`` was stored as 1); here a boolean given for a numeric field
    is refused, naming the field.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None and _numeric(cls, info.field_name):
            raise ValueError("must be a number, not a boolean")
        return value


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


@cache
def _numeric(model: type[BaseModel], name: str) -> bool:
    """Whether a field takes numbers and not booleans (``int``, ``float``, ``Decimal``, optional)."""
    field = model.model_fields.get(name)
    return field is not None and _numeric_type(field.annotation)


def _numeric_type(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _numeric_type(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        args = [a for a in get_args(annotation) if a is not type(None)]
        return bool(args) and all(_numeric_type(a) for a in args)
    return annotation in (int, float, Decimal)
