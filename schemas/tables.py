"""Table specs: how a DynamoDB item maps to (entity, tenant, key).

Three key styles are supported, because real tables come in all three:

* ``PK_SK``: one entity family per table, keys like ``STARTUP#{startup_id}`` /
  ``METRICS#{date}``; the sort-key prefix tells entities of one table apart.
* ``SINGLE_TABLE``: many entity types in one table, told apart by a discriminator
  attribute (``entityType``), falling back to the sort-key prefix.
* ``PLAIN``: ordinary key attributes (``userId``, ``userId`` + ``documentId``).

An item's stable ``key`` is its primary-key values joined by ``|`` in key-schema order
(``STARTUP#42|PROFILE``, ``u-1|doc-9``); :meth:`TableSpec.key_dict` reverses it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from schemas.entities.base import EntityModel
from schemas.errors import PoisonRecordError, UnknownTableError
from schemas.fields import FieldClass

__all__ = ["KEY_SEPARATOR", "EntitySpec", "Gsi", "KeyStyle", "TableSpec"]

KEY_SEPARATOR = "|"


class KeyStyle(StrEnum):
    PK_SK = "pk_sk"
    SINGLE_TABLE = "single_table"
    PLAIN = "plain"


@dataclass(frozen=True)
class Gsi:
    """A global secondary index: name, hash attribute and optional range attribute.

    Attribute types are ``S`` or ``N`` as DynamoDB spells them.
    """

    name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None = None
    #: ``ALL`` or ``KEYS_ONLY`` (DynamoDB ``Projection.ProjectionType``).
    projection: str = "ALL"


@dataclass(frozen=True)
class EntitySpec:
    """One entity type: its model, how its keys are built, how its fields are classed.

    Args:
        name: snake_case entity name used in event types (``startup_metric``).
        model: the pydantic model every write validates through.
        pk: partition-key template (``"STARTUP#{startup_id}"``); None for plain keys.
        sk: sort-key template; None when the table has no sort key or uses plain keys.
        type_value: discriminator value in single-table designs (``"MEMBER"``).
        tenant_attr: the attribute that scopes the item to a tenant.
        secret: dotted paths that never leave the table.
        pii: dotted paths of personal data (kept, but marked for erasure and masking).
        parents: attribute -> entity it points at (``{"startup_id": "startup"}``), for
            denormalised counters.
        subject_attrs: attributes naming a user (a data subject of the right to be
            forgotten): ``user_id``, ``assessor_id``, ``lender_id``, ``userId``...; a list
            attribute holds user ids as members, ``a[].b`` is ``b`` in each map of list ``a``.
        erasure: what erasing a subject named by ``subject_attrs`` does to an item:
            ``owned`` (the item only makes sense for that person: deleted) or ``shared``
            (kept for others: the subject's ids become a keyed pseudonym, the pii paths
            about the subject are tokenized or blanked). None when no attribute names a user.
        pii_subject: the subject attribute whose person the ``pii`` paths describe (an
            activity's ``ip_address`` is its ``user_id``'s); None when the pii is nobody
            the subject attributes name (an invitation's ``email`` is the invitee's).
    """

    name: str
    model: type[EntityModel]
    pk: str | None = None
    sk: str | None = None
    type_value: str | None = None
    tenant_attr: str = "tenant_id"
    secret: tuple[str, ...] = ()
    pii: tuple[str, ...] = ()
    parents: Mapping[str, str] = field(default_factory=dict)
    subject_attrs: tuple[str, ...] = ()
    erasure: Literal["owned", "shared"] | None = None
    pii_subject: str | None = None

    def __post_init__(self) -> None:
        if bool(self.subject_attrs) != (self.erasure is not None):
            raise ValueError(f"{self.name}: subject_attrs and erasure are declared together, or neither")
        if self.pii_subject is not None and self.pii_subject not in self.subject_attrs:
            raise ValueError(f"{self.name}: pii_subject {self.pii_subject!r} is not one of its subject_attrs")

    @property
    def sk_prefix(self) -> str | None:
        """Literal text before the first placeholder of the sort-key template."""
        if self.sk is None:
            return None
        return self.sk.split("{", 1)[0]

    def field_class(self, path: str) -> FieldClass:
        if path in self.secret:
            return FieldClass.SECRET
        if path in self.pii:
            return FieldClass.PII
        return FieldClass.PUBLIC

    def template_fields(self) -> list[str]:
        """Model attributes the key templates read."""
        names: list[str] = []
        for template in (self.pk, self.sk):
            if template:
                names += [f for _, f, _, _ in string.Formatter().parse(template) if f]
        return names


@dataclass(frozen=True)
class TableSpec:
    """A table: its key schema, indexes, TTL and the entities it holds."""

    name: str
    style: KeyStyle
    entities: tuple[EntitySpec, ...]
    hash_key: str = "PK"
    range_key: str | None = "SK"
    gsis: tuple[Gsi, ...] = ()
    ttl_attr: str | None = None
    discriminator: str | None = None
    physical: str = "auxeira-{name}-{env}"
    #: DynamoDB ``StreamViewType`` of the table's stream, or None for no stream (the
    #: pipeline's own tables: their writes must not loop back through the router).
    stream_view: str | None = "NEW_AND_OLD_IMAGES"
    #: Type (``S``/``N``) of the key attributes; every other key attribute is a string.
    key_types: tuple[tuple[str, str], ...] = ()

    # -- names ---------------------------------------------------------------------

    def physical_name(self, env: str) -> str:
        return self.physical.format(name=self.name, env=env)

    def name_pattern(self) -> re.Pattern[str]:
        """Regex matching this table's physical name in any environment."""
        prefix, _, suffix = self.physical.format(name=self.name, env="\x00").partition("\x00")
        return re.compile(f"^{re.escape(prefix)}(?P<env>.+){re.escape(suffix)}$")

    # -- keys ----------------------------------------------------------------------

    @property
    def key_attrs(self) -> tuple[str, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)

    def key_of(self, item: Mapping[str, Any]) -> str:
        """The stable key of an item (raises PoisonRecordError if a key attribute is missing)."""
        try:
            return KEY_SEPARATOR.join(str(item[a]) for a in self.key_attrs)
        except KeyError as exc:
            raise PoisonRecordError(f"{self.name}: item has no key attribute {exc.args[0]!r}") from exc

    def key_dict(self, key: str) -> dict[str, str]:
        """Primary key attributes from a stable key (the inverse of :meth:`key_of`)."""
        parts = key.split(KEY_SEPARATOR, len(self.key_attrs) - 1)
        if len(parts) != len(self.key_attrs):
            raise ValueError(f"{self.name}: key {key!r} does not have {len(self.key_attrs)} parts")
        return dict(zip(self.key_attrs, parts))

    def build_key(self, entity: EntitySpec, values: Mapping[str, Any]) -> dict[str, str]:
        """Primary key attributes for an item of ``entity`` with these attribute values."""
        if self.style is KeyStyle.PLAIN:
            return {a: str(values[a]) for a in self.key_attrs}
        out = {self.hash_key: _render(entity.pk, values)}
        if self.range_key is not None:
            out[self.range_key] = _render(entity.sk, values)
        return out

    # -- entities ------------------------------------------------------------------

    def entity(self, name: str) -> EntitySpec:
        for spec in self.entities:
            if spec.name == name:
                return spec
        raise KeyError(f"table {self.name} holds no entity {name!r}")

    def entity_for(self, item: Mapping[str, Any]) -> EntitySpec:
        """Which entity an item is (raises PoisonRecordError when none matches)."""
        if len(self.entities) == 1:
            return self.entities[0]
        if self.discriminator and self.discriminator in item:
            for spec in self.entities:
                if spec.type_value == item[self.discriminator]:
                    return spec
        sort_value = str(item.get(self.range_key or "", ""))
        # Longest prefix first, so "METRICS#" wins over a bare "M" prefix.
        for spec in sorted(self.entities, key=lambda s: -len(s.sk_prefix or "")):
            prefix = spec.sk_prefix
            if prefix is None:
                continue
            exact = spec.sk == prefix
            if (exact and sort_value == prefix) or (not exact and sort_value.startswith(prefix)):
                return spec
        raise PoisonRecordError(f"{self.name}: no entity matches item {self.key_of(item)!r}")

    def tenant_of(self, entity: EntitySpec, item: Mapping[str, Any]) -> str:
        tenant = item.get(entity.tenant_attr)
        if not tenant:
            raise PoisonRecordError(
                f"{self.name}/{entity.name} {self.key_of(item)!r}: tenant attribute {entity.tenant_attr!r} is missing"
            )
        return str(tenant)

    # -- provisioning --------------------------------------------------------------

    def attribute_types(self) -> dict[str, str]:
        """Type of every attribute a key schema or index names (``S`` unless declared)."""
        types: dict[str, str] = dict.fromkeys(self.key_attrs, "S")
        types.update(dict(self.key_types))
        for gsi in self.gsis:
            for attr in (gsi.hash_key, gsi.range_key):
                if attr:
                    types[attr[0]] = attr[1]
        return types


def _render(template: str | None, values: Mapping[str, Any]) -> str:
    if template is None:
        raise ValueError("key template missing")
    try:
        return template.format_map(values)
    except KeyError as exc:
        raise PoisonRecordError(f"key attribute {exc.args[0]!r} is missing") from exc


def resolve_table(specs: tuple[TableSpec, ...], table_name: str) -> tuple[TableSpec, str]:
    """The spec and environment of a physical table name.

    Longer logical names are tried first, so ``auxeira-activities-catalog-dev`` resolves
    to ``activities-catalog`` rather than ``activities`` in environment ``catalog-dev``.
    """
    for spec in sorted(specs, key=lambda s: -len(s.name)):
        match = spec.name_pattern().match(table_name)
        if match:
            return spec, match.group("env")
    raise UnknownTableError(f"no table spec matches table {table_name!r}")
