"""Finding a subject's items in the source tables: Query where a key or an index names the
subject, a parallel Scan with a filter for the rest, and the subject's pii values.

In this order, because each step needs the one before:

1. **by id**: per table, a Query of the partition ``USER#{id}`` when an entity's
   partition key is the subject's alone (profile, notifications, sessions, startup
   mappings), a Query of the key attribute of a plain table named by a subject attribute
   (the assistant's ``userId``), and a Query of every GSI whose hash attribute is a subject
   attribute (``UserActivityIndex``, ``AssessorIndex``, ``LenderIndex`` ...);
2. **pii values**: every pii value of the subject's *owned* items found (the profile's
   email and name, a membership's email): held in memory only, never stored;
3. **by pii value**: a Query of every GSI whose hash attribute is a pii attribute of a
   shared entity (``LenderEmailIndex``: an invitation to the subject's email, before it
   was accepted);
4. **by scan**: a parallel Scan of every table, filtered on what no query covers: the
   audit attributes (``created_by``, ``updated_by``, ``deleted_by``: the subject may have
   written any item), the subject attributes no index serves, the pii attributes of
   shared entities. A subject path inside a list of maps (``burnoutRisks[].userId``)
   cannot be filtered by DynamoDB: that table is scanned whole.

Every item a read returns is judged by :func:`schemas.erasure.relation`; an item no rule
claims (an index hit whose attribute is another user's after all) is left out. Reads
from a GSI are eventually consistent: the erasure re-reads each item by key, consistently,
before writing it, and the final scan of every store catches anything a read missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from schemas.erasure import AUDIT_ACTORS, MIN_PII_CHARS, Matcher, Relation, relation
from schemas.errors import PoisonRecordError
from schemas.tables import EntitySpec, KeyStyle, TableSpec
from schemas.wire.dynamodb import deserialize_item

__all__ = ["IDENTITIES", "Found", "Lookup", "find_items", "pii_values_of"]

_IN_LIMIT = 100  # DynamoDB's limit on the operands of IN


@dataclass(frozen=True)
class Found:
    """One item about the subject, as read."""

    table: TableSpec
    entity: EntitySpec
    key: str
    tenant: str
    relation: Relation
    item: dict[str, Any]
    found_by: str


@dataclass
class Lookup:
    """One read the plan made: a Query of a key or an index, or a filtered Scan."""

    table: str
    how: str
    items: int = 0
    detail: str = ""


@dataclass
class _Reads:
    found: dict[tuple[str, str], Found] = field(default_factory=dict)
    lookups: list[Lookup] = field(default_factory=list)


def find_items(
    client: Any,
    tables: Iterable[TableSpec],
    table_name: Callable[[TableSpec], str],
    subject: str,
    matcher: Callable[[Iterable[str]], Matcher],
    *,
    segments: int = 4,
) -> tuple[list[Found], list[Lookup], list[str]]:
    """Steps 1-4 of the module docstring: ``(items, lookups, pii values)``.

    Args:
        matcher: builds the subject's matcher from pii values (called after step 2).
    """
    specs = list(tables)
    reads = _Reads()
    by_id = matcher(())
    for spec in specs:
        for how, kwargs in _id_queries(spec, table_name(spec), subject):
            _collect(reads, spec, table_name(spec), how, _query(client, kwargs), by_id)
    pii = pii_values_of(f for f in reads.found.values() if f.relation == "owned")
    full = matcher(pii)
    for spec in specs:
        for how, kwargs in _pii_queries(spec, table_name(spec), pii):
            _collect(reads, spec, table_name(spec), how, _query(client, kwargs), full)
    for spec in specs:
        how, kwargs = _scan(spec, table_name(spec), subject, pii)
        _collect(reads, spec, table_name(spec), how, _parallel_scan(client, kwargs, segments), full)
    ordered = sorted(reads.found.values(), key=lambda f: (f.table.name, f.key))
    return ordered, reads.lookups, pii


#: The entities whose pii values identify the subject anywhere (its email, name, phone):
#: the other owned items' pii (a session's IP address) goes with them, but is not matched
#: by value elsewhere, where strangers share it (one office, one address).
IDENTITIES = ("user", "member", "assistant_user")


def pii_values_of(found: Iterable[Found]) -> list[str]:
    """The text of every pii value of the subject's identity items (:data:`IDENTITIES`; maps and
    lists to their leaves), long enough to match."""
    values: set[str] = set()
    for f in found:
        if f.entity.name not in IDENTITIES:
            continue
        for path in f.entity.pii:
            node: Any = f.item
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            values.update(v for v in _leaves(node) if len(v) >= MIN_PII_CHARS)
    return sorted(values)


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)


# -- what to read ---------------------------------------------------------------------------


def _subject_attrs(spec: TableSpec) -> set[str]:
    return {a for e in spec.entities for a in e.subject_attrs}


def _id_queries(spec: TableSpec, name: str, subject: str) -> Iterator[tuple[str, dict[str, Any]]]:
    attrs = _subject_attrs(spec)
    partitions = sorted(
        {str(e.pk).format_map(dict.fromkeys(e.subject_attrs, subject)) for e in spec.entities if _pk_is_subject(e)}
    )
    for pk in partitions:
        yield f"query {spec.hash_key} = {pk.replace(subject, '<subject>')}", _eq(name, None, spec.hash_key, pk)
    if spec.style is KeyStyle.PLAIN and spec.hash_key in attrs:
        yield f"query {spec.hash_key} = <subject>", _eq(name, None, spec.hash_key, subject)
    for gsi in spec.gsis:
        if gsi.hash_key[0] in attrs:
            yield f"query {gsi.name} ({gsi.hash_key[0]} = <subject>)", _eq(name, gsi.name, gsi.hash_key[0], subject)


def _pk_is_subject(entity: EntitySpec) -> bool:
    """The partition key template is the subject's alone (``USER#{user_id}``)."""
    if entity.pk is None or not entity.subject_attrs:
        return False
    placeholders = [f for f in entity.template_fields() if f"{{{f}}}" in entity.pk]
    return placeholders == [entity.subject_attrs[0]]


def _indexed(spec: TableSpec) -> set[str]:
    attrs = _subject_attrs(spec)
    covered = {g.hash_key[0] for g in spec.gsis if g.hash_key[0] in attrs}
    covered |= {e.subject_attrs[0] for e in spec.entities if _pk_is_subject(e)}
    if spec.style is KeyStyle.PLAIN and spec.hash_key in attrs:
        covered.add(spec.hash_key)
    return covered


def _shared_pii(spec: TableSpec) -> set[str]:
    return {p for e in spec.entities if e.erasure == "shared" for p in e.pii if "." not in p}


def _pii_queries(spec: TableSpec, name: str, pii: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    shared = _shared_pii(spec)
    for gsi in spec.gsis:
        if gsi.hash_key[0] in shared:
            for value in pii:
                yield (
                    f"query {gsi.name} ({gsi.hash_key[0]} = <a pii value>)",
                    _eq(name, gsi.name, gsi.hash_key[0], value),
                )


def _scan(spec: TableSpec, name: str, subject: str, pii: list[str]) -> tuple[str, dict[str, Any]]:
    """The table's filtered Scan (whole, when a subject path is nested in a list of maps)."""
    kwargs: dict[str, Any] = {"TableName": name}
    if any("[]." in a for e in spec.entities for a in e.subject_attrs):
        return "scan, no filter (a subject attribute inside a list of maps)", kwargs
    names: dict[str, str] = {}
    terms: list[str] = []
    values: dict[str, Any] = {":s": {"S": subject}}
    lists = {a for e in spec.entities for a in e.subject_attrs if _is_list(e, a)}
    for i, attr in enumerate(sorted((_subject_attrs(spec) - _indexed(spec)) | set(AUDIT_ACTORS))):
        names[f"#a{i}"] = attr
        terms.append(f"contains(#a{i}, :s)" if attr in lists else f"#a{i} = :s")
    shared = sorted(_shared_pii(spec))
    if pii and shared:
        operands = pii[:_IN_LIMIT]
        values.update({f":p{i}": {"S": v} for i, v in enumerate(operands)})
        for j, attr in enumerate(shared):
            names[f"#p{j}"] = attr
            terms.append(f"#p{j} IN ({', '.join(f':p{i}' for i in range(len(operands)))})")
    kwargs.update(FilterExpression=" OR ".join(terms), ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    return f"scan, filter {', '.join(sorted(names.values()))}", kwargs


def _is_list(entity: EntitySpec, attr: str) -> bool:
    field_info = entity.model.model_fields.get(attr)
    return field_info is not None and "list" in str(field_info.annotation)


def _eq(table: str, index: str | None, attr: str, value: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#k = :v",
        "ExpressionAttributeNames": {"#k": attr},
        "ExpressionAttributeValues": {":v": {"S": value}},
    }
    if index is not None:
        kwargs["IndexName"] = index
    return kwargs


# -- reading --------------------------------------------------------------------------------


def _query(client: Any, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    while True:
        page = client.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def _parallel_scan(client: Any, kwargs: dict[str, Any], segments: int) -> Iterator[dict[str, Any]]:
    def segment(n: int) -> list[dict[str, Any]]:
        items, args = [], {**kwargs, "Segment": n, "TotalSegments": segments}
        while True:
            page = client.scan(**args)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            args = {**args, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    with ThreadPoolExecutor(max_workers=segments) as pool:
        for items in pool.map(segment, range(segments)):
            yield from items


def _collect(
    reads: _Reads, spec: TableSpec, name: str, how: str, raw_items: Iterable[dict[str, Any]], matcher: Matcher
) -> None:
    lookup = Lookup(name, how)
    reads.lookups.append(lookup)
    for raw in raw_items:
        item = deserialize_item(raw)
        try:
            entity = spec.entity_for(item)
            key = spec.key_of(item)
        except PoisonRecordError:
            continue
        found = relation(entity, item, matcher)
        if found is None:
            continue
        lookup.items += 1
        tenant = str(item.get(entity.tenant_attr, ""))
        reads.found.setdefault((name, key), Found(spec, entity, key, tenant, found, item, how))
