"""Lake column types, derived from the pydantic models: one tree, rendered for Glue, Spark and Arrow.

How a model field becomes a column
----------------------------------
==============================  ==========================================================
model annotation                column
==============================  ==========================================================
``str``, ``Literal[...]``       ``string``
``int``                         ``bigint``
``float``                       ``double``
``Decimal`` (money)             ``decimal(p,s)`` from ``max_digits``/``decimal_places``
                                (``decimal(38,10)`` when the model gives none)
``bool``                        ``boolean``
``datetime``                    ``timestamp`` (UTC, no zone: Athena's ``timestamp``)
``date``                        ``date``
``list[X]`` of scalars          ``array<X>``
a nested model                  ``struct<...>`` of its fields (``company_details``)
``Json`` with a lake shape      ``struct<...>`` (:mod:`glue_jobs.shapes`: where the seeds nest)
``Json``, ``list[Json]``        ``string`` holding the value's JSON (envelope JSON: exact
                                numbers travel as ``{"$n": "..."}``)
a pii path, scalar              ``string``: the value's keyed-hash token (:mod:`glue_jobs.pii`)
a pii path, map                 ``map<string,string>``: keys kept, every value a token
a secret path                   no column (the envelope never carries it)
==============================  ==========================================================

The same tree renders to a Glue/Athena type string (:meth:`ColumnType.glue`), a Spark
type and an Arrow type (:mod:`glue_jobs.types_spark`, :mod:`glue_jobs.types_arrow`), so
the catalog, the Spark job and the local engine cannot disagree about a column.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel

__all__ = [
    "Column",
    "ColumnType",
    "Kind",
    "bigint",
    "boolean",
    "columns_of_model",
    "date_",
    "decimal",
    "double",
    "json_",
    "string",
    "timestamp",
    "token_map",
]

Kind = Literal[
    "string", "bigint", "double", "decimal", "boolean", "timestamp", "date", "json", "array", "struct", "map"
]
#: A decimal the model does not size: wide enough for DynamoDB's 38 digits with 10 places.
DEFAULT_DECIMAL = (38, 10)


@dataclass(frozen=True)
class ColumnType:
    """A lake column's type; ``element`` for arrays, ``fields`` for structs."""

    kind: Kind
    precision: int = 0
    scale: int = 0
    element: ColumnType | None = None
    fields: tuple[Column, ...] = ()
    #: A struct's secret fields: known (never ``_extra``), never kept.
    ignored: frozenset[str] = frozenset()

    def glue(self) -> str:
        """The Glue Data Catalog / Athena (Hive DDL) type string."""
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.kind == "json":
            return "string"
        if self.kind == "array":
            assert self.element is not None
            return f"array<{self.element.glue()}>"
        if self.kind == "map":
            return "map<string,string>"
        if self.kind == "struct":
            return "struct<" + ",".join(f"{f.name.lower()}:{f.type.glue()}" for f in self.fields) + ">"
        return self.kind

    @property
    def is_scalar(self) -> bool:
        return self.kind not in ("array", "struct", "map", "json")


@dataclass(frozen=True)
class Column:
    """One column: its name (as the model spells it), type, and whether it holds pii tokens.

    Attributes:
        path: the dotted model path (``company_details.headquarters_address``).
    """

    name: str
    type: ColumnType
    pii: bool = False
    path: str = ""
    comment: str = ""


string, bigint, double = ColumnType("string"), ColumnType("bigint"), ColumnType("double")
boolean, timestamp, date_ = ColumnType("boolean"), ColumnType("timestamp"), ColumnType("date")
json_, token_map = ColumnType("json"), ColumnType("map")


def decimal(precision: int, scale: int) -> ColumnType:
    return ColumnType("decimal", precision, scale)


def columns_of_model(
    model: type[BaseModel],
    *,
    skip: frozenset[str] = frozenset(),
    pii: frozenset[str] = frozenset(),
    secret: frozenset[str] = frozenset(),
    shapes: Mapping[str, type[BaseModel]] | None = None,
    prefix: str = "",
) -> tuple[Column, ...]:
    """The columns of ``model``'s fields, in field order.

    Args:
        skip: top-level fields that are not columns of their own (envelope columns).
        pii, secret: dotted paths (the entity spec's classes).
        shapes: dotted path -> the lake shape of a ``Json`` field (:mod:`glue_jobs.shapes`).
        prefix: the dotted path of ``model`` itself inside its entity (nested models).
    """
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if path in secret or (not prefix and name in skip):
            continue
        out.append(_column(name, path, field.annotation, list(field.metadata), pii, secret, shapes or {}))
    return tuple(out)


def _column(
    name: str,
    path: str,
    annotation: Any,
    metadata: list[Any],
    pii: frozenset[str],
    secret: frozenset[str],
    shapes: Mapping[str, type[BaseModel]],
) -> Column:
    annotation, metadata = _unwrap(annotation, metadata)
    if path in pii:
        is_map = _is_json(annotation) or (isinstance(annotation, type) and issubclass(annotation, BaseModel))
        return Column(name, token_map if is_map else string, pii=True, path=path)
    shape = shapes.get(path)
    if shape is not None:
        fields = columns_of_model(shape, pii=pii, secret=secret, shapes=shapes, prefix=f"{path}.")
        return Column(name, ColumnType("struct", fields=fields), path=path)
    return Column(name, _type(annotation, metadata, path, pii, secret, shapes), path=path)


def _type(
    annotation: Any,
    metadata: list[Any],
    path: str,
    pii: frozenset[str],
    secret: frozenset[str],
    shapes: Mapping[str, type[BaseModel]],
) -> ColumnType:
    origin = typing.get_origin(annotation)
    if origin is Literal or annotation is str:
        return string
    if annotation is bool:
        return boolean
    if annotation is int:
        return bigint
    if annotation is float:
        return double
    if annotation is Decimal:
        return decimal(*_decimal_size(metadata))
    if annotation is AwareDatetime or annotation is datetime:
        return timestamp
    if annotation is date:
        return date_
    if origin is list:
        (inner,) = typing.get_args(annotation) or (Any,)
        inner, inner_meta = _unwrap(inner, [])
        element = _type(inner, inner_meta, path, pii, secret, shapes)
        return ColumnType("array", element=element) if element.is_scalar else json_
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = columns_of_model(annotation, pii=pii, secret=secret, shapes=shapes, prefix=f"{path}.")
        ignored = frozenset(n for n in annotation.model_fields if f"{path}.{n}" in secret)
        return ColumnType("struct", fields=fields, ignored=ignored)
    return json_  # Json (dict[str, Any]) and anything free-form


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """Strip ``Optional`` and ``Annotated``, collecting the annotated metadata."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(annotation)
            for item in extra:
                metadata = [*metadata, *getattr(item, "metadata", [item])]
            annotation = base
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return Any, metadata
            annotation = args[0]
        else:
            return annotation, metadata


def _decimal_size(metadata: list[Any]) -> tuple[int, int]:
    digits = next((m.max_digits for m in metadata if getattr(m, "max_digits", None) is not None), None)
    places = next((m.decimal_places for m in metadata if getattr(m, "decimal_places", None) is not None), None)
    if digits is None or places is None:
        return DEFAULT_DECIMAL
    return int(digits), int(places)


def _is_json(annotation: Any) -> bool:
    return annotation is Any or typing.get_origin(annotation) is dict or annotation is dict
