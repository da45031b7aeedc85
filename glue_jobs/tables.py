"""The lake's tables: one curated table per entity and published event type, one current
table per table entity and published *state* event, their columns from the models.

Columns of a curated table, in order:

* the envelope's: ``event_id``, ``event_type``, ``version`` (``decimal(20,0)``: an
  envelope version is below 10**20), ``occurred_at``, ``tenant_id``, ``key``, ``actor``;
* the entity's fields (:mod:`glue_jobs.columns`), pii tokenized, secrets absent;
* ``_extra``: JSON of everything the model does not know, or that did not fit its
  column, so nothing is ever dropped (null when there is nothing);
* ``_order``: the envelope's order (:attr:`schemas.envelope.Envelope.order`) as 60
  digits, so ``max(_order)`` is the latest change whatever mix of writers made it;
* partition ``dt`` (``YYYY-MM-DD`` of ``occurred_at``).

A model field named like an envelope column is the same value (``tenant_id``,
``version``, ``occurred_at``) and appears once, or a different one (an ``event``'s own
``event_id`` and ``event_type``): then the model's field keeps the name, since analysts
join on it, and the envelope's becomes ``_event_id`` / ``_event_type``.

A current table has ``key``, ``tenant_id``, ``version``, ``occurred_at``, ``event_id``,
``event_type`` and ``actor`` of the item's latest change, ``is_deleted`` (soft-deleted),
the entity's fields and ``_extra``; no partitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from pydantic import BaseModel

from glue_jobs.columns import Column, ColumnType, boolean, columns_of_model, decimal, json_, string, timestamp
from glue_jobs.shapes import SHAPES
from schemas import catalog
from schemas.entities.base import AuditedModel
from schemas.events import REGISTRY
from schemas.resources import LAKE

__all__ = [
    "ENVELOPE_FIELDS",
    "LakeTable",
    "all_tables",
    "curated_table",
    "curated_tables",
    "current_table",
    "current_tables",
    "lake_table",
]

Layer = Literal["curated", "current"]

#: Envelope field -> its column type, in column order.
ENVELOPE_FIELDS: tuple[tuple[str, ColumnType], ...] = (
    ("event_id", string),
    ("event_type", string),
    ("version", decimal(20, 0)),
    ("occurred_at", timestamp),
    ("tenant_id", string),
    ("key", string),
    ("actor", string),
)
#: Model fields that hold the envelope's own value: one column, the envelope's.
_SAME_AS_ENVELOPE = frozenset({"tenant_id", "version", "occurred_at"})
EXTRA, ORDER, IS_DELETED, DT = "_extra", "_order", "is_deleted", "dt"
AUDIT_FIELDS = frozenset(AuditedModel.model_fields)


@dataclass(frozen=True)
class LakeTable:
    """One table of the lake.

    Attributes:
        name: the catalog name (``curated_startup``, ``current_startup``): the same in
            Glue and in the local DuckDB views, so one SQL text runs on both.
        entity: the entity or published entity (``startup``, ``page_view``).
        source: ``table`` (the router speaks for it) or ``event`` (a publisher's).
        envelope: envelope field -> its column name here (``event_id`` -> ``_event_id``).
        fields: the entity's own columns.
        structural: attributes of an item that are neither columns nor extra (the
            ``PK``/``SK`` a ``key`` already holds).
    """

    name: str
    layer: Layer
    entity: str
    source: Literal["table", "event"]
    envelope: dict[str, str]
    fields: tuple[Column, ...]
    pii_paths: tuple[str, ...] = ()
    structural: frozenset[str] = field(default_factory=frozenset)
    #: Attributes of ``after`` that never go to ``_extra``: the model's fields (secret
    #: ones included: they are simply not kept) and the structural ones.
    known: frozenset[str] = field(default_factory=frozenset)

    @property
    def location(self) -> str:
        """Where the table lives, relative to the lake root."""
        return f"{LAKE.curated if self.layer == 'curated' else LAKE.current}/{self.entity}/"

    @property
    def partition_keys(self) -> tuple[tuple[str, str], ...]:
        return ((DT, "string"),) if self.layer == "curated" else ()

    @property
    def columns(self) -> tuple[Column, ...]:
        """Every data column in file order (partition keys excluded)."""
        head = [Column(self.envelope[name], kind) for name, kind in ENVELOPE_FIELDS]
        if self.layer == "current":
            head.insert(6, Column(IS_DELETED, boolean))
        tail = [Column(EXTRA, json_)]
        if self.layer == "curated":
            tail.append(Column(ORDER, string))
        return (*head, *self.fields, *tail)

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.fields)


def _table(layer: Layer, entity: str) -> LakeTable:
    spec = catalog.ENTITIES.get(entity)
    model: type[BaseModel]
    if spec is not None:
        model, pii, secret = spec.model, frozenset(spec.pii), frozenset(spec.secret)
        keys = catalog.table_of_entity(entity).key_attrs
        structural = frozenset(k for k in keys if k not in model.model_fields)
        source: Literal["table", "event"] = "table"
    else:
        found = REGISTRY.model(entity)
        if found is None:
            raise KeyError(f"no entity or published event {entity!r}")
        model, pii, secret, structural, source = found, frozenset(), frozenset(), frozenset(), "event"
    fields = columns_of_model(model, skip=_SAME_AS_ENVELOPE, pii=pii, secret=secret, shapes=SHAPES.get(entity, {}))
    # The entity's own fields first, the repository's audit fields after them.
    fields = tuple(sorted(fields, key=lambda c: c.name in AUDIT_FIELDS))
    names = {f.name for f in fields}
    envelope = {name: f"_{name}" if name in names else name for name, _ in ENVELOPE_FIELDS}
    prefix = "curated" if layer == "curated" else "current"
    known = frozenset(model.model_fields) | structural
    return LakeTable(
        f"{prefix}_{entity}", layer, entity, source, envelope, fields, tuple(sorted(pii)), structural, known
    )


def _has_current(entity: str) -> bool:
    model = REGISTRY.model(entity)
    return entity in catalog.ENTITIES or (model is not None and model.kind == "state")


@cache
def curated_tables() -> tuple[LakeTable, ...]:
    """Every curated table: the table entities in catalog order, then the published events."""
    entities = [*catalog.ENTITIES, *sorted(REGISTRY.entities)]
    return tuple(_table("curated", e) for e in entities)


@cache
def current_tables() -> tuple[LakeTable, ...]:
    return tuple(_table("current", t.entity) for t in curated_tables() if _has_current(t.entity))


def all_tables() -> tuple[LakeTable, ...]:
    return (*curated_tables(), *current_tables())


def curated_table(entity: str) -> LakeTable:
    for table in curated_tables():
        if table.entity == entity:
            return table
    raise KeyError(f"no curated table for {entity!r}")


def current_table(entity: str) -> LakeTable:
    for table in current_tables():
        if table.entity == entity:
            return table
    raise KeyError(f"no current table for {entity!r}")


def lake_table(name: str) -> LakeTable:
    """A table by catalog name (``curated_startup``)."""
    for table in all_tables():
        if table.name == name:
            return table
    raise KeyError(f"no lake table {name!r}")
