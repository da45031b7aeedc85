"""What the search index holds: which entities are searchable, which fields, of what kind.

This is the one description both search sinks derive from: the OpenSearch index
templates (mappings and analyzers, :func:`opensearch_template_body`) and the embedded
SQLite FTS5 tables (columns, bm25 weights, :data:`FTS5_TOKENIZE`). A field is listed
here or it is never indexed, so nothing outside these lists (secrets, personal data,
blobs of JSON) can reach an index; ``tests/unit/consumers/test_search_projection.py``
checks every listed field against the catalog's ``secret`` and ``pii`` paths.

Every document also carries :data:`TENANT_FIELD`, the tenant it belongs to; every
query filters on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

__all__ = [
    "FTS5_TOKENIZE",
    "OPENSEARCH_ANALYSIS",
    "SEARCH_ENTITIES",
    "TENANT_FIELD",
    "FieldKind",
    "SearchEntity",
    "SearchField",
    "by_entity",
    "opensearch_mappings",
    "opensearch_template_body",
    "search_entity",
]

#: The tenant of a document, on every document of every index.
TENANT_FIELD = "tenant"


class FieldKind(StrEnum):
    """How a field is indexed.

    * ``TEXT``: prose, tokenised, lowercased, accents folded, English-stemmed;
    * ``KEYWORD``: a label (industry, stage): exact match after lowercasing, and its
      words are searchable too;
    * ``TAGS``: a list of labels, indexed like ``KEYWORD``;
    * ``INTEGER``: a number, stored and filterable, not matched by text.
    """

    TEXT = "text"
    KEYWORD = "keyword"
    TAGS = "tags"
    INTEGER = "integer"

    @property
    def is_text(self) -> bool:
        """True when free text can match the field."""
        return self is not FieldKind.INTEGER


@dataclass(frozen=True)
class SearchField:
    """One indexed field: a top-level attribute of the entity model.

    Args:
        name: attribute name, the same in the table, the envelope and the index.
        kind: how it is indexed.
        boost: relevance weight of a match in this field (names outrank descriptions).
    """

    name: str
    kind: FieldKind
    boost: float = 1.0


@dataclass(frozen=True)
class SearchEntity:
    """One searchable entity and its index.

    Args:
        index: the index's short name (``startups``); OpenSearch names it
            ``auxeira-{env}-{index}``, the embedded sink ``fts_{index}``.
        entity: the catalog entity (``startup``) whose events feed it.
        fields: what is indexed, in column order.
    """

    index: str
    entity: str
    fields: tuple[SearchField, ...]

    @cached_property
    def text_fields(self) -> tuple[SearchField, ...]:
        """Fields free text can match, in column order (cached: sinks read it per document)."""
        return tuple(f for f in self.fields if f.kind.is_text)

    @property
    def title_field(self) -> str:
        """The field that names a document (the first one), for display and probes."""
        return self.fields[0].name


_TXT, _KW, _TAGS, _INT = FieldKind.TEXT, FieldKind.KEYWORD, FieldKind.TAGS, FieldKind.INTEGER

SEARCH_ENTITIES: tuple[SearchEntity, ...] = (
    SearchEntity(
        "startups",
        "startup",
        (
            SearchField("company_name", _TXT, 3.0),
            SearchField("tagline", _TXT, 2.0),
            SearchField("elevator_pitch", _TXT, 1.5),
            SearchField("description", _TXT),
            SearchField("industry", _KW, 1.5),
            SearchField("stage", _KW),
            SearchField("sse_score", _INT),
        ),
    ),
    SearchEntity(
        "documents",
        "document",
        (
            SearchField("document_name", _TXT, 3.0),
            SearchField("document_description", _TXT),
            SearchField("tags", _TAGS, 1.5),
            SearchField("document_type", _KW),
        ),
    ),
    SearchEntity(
        "chatbot_messages",
        "chatbot_message",
        (
            SearchField("message_text", _TXT),
            SearchField("message_intent", _KW),
            SearchField("message_sentiment", _KW),
        ),
    ),
    SearchEntity(
        "events",
        "event",
        (
            SearchField("title", _TXT, 3.0),
            SearchField("description", _TXT),
            SearchField("event_type", _KW),
            SearchField("tags", _TAGS, 1.5),
        ),
    ),
    SearchEntity(
        "partners",
        "partner",
        (
            SearchField("name", _TXT, 3.0),
            SearchField("description", _TXT),
            SearchField("category", _KW, 1.5),
            SearchField("offering", _TXT, 1.5),
        ),
    ),
)

_BY_ENTITY = {s.entity: s for s in SEARCH_ENTITIES}
_BY_INDEX = {s.index: s for s in SEARCH_ENTITIES}


def by_entity(entity: str) -> SearchEntity | None:
    """The search spec of a catalog entity, or None when it is not searchable."""
    return _BY_ENTITY.get(entity)


def search_entity(name: str) -> SearchEntity:
    """A search spec by index name (``startups``) or catalog entity name (``startup``).

    Raises:
        KeyError: neither; the message lists the valid names.
    """
    spec = _BY_INDEX.get(name) or _BY_ENTITY.get(name)
    if spec is None:
        raise KeyError(f"{name!r} is not searchable; choose one of {', '.join(_BY_INDEX)}")
    return spec


# -- embedded (SQLite FTS5) ------------------------------------------------------------

#: Porter stemming over unicode61 with accents removed: the same normalisation as
#: :data:`OPENSEARCH_ANALYSIS` (lowercase, ASCII folding, English stemming).
FTS5_TOKENIZE = "porter unicode61 remove_diacritics 2"


# -- OpenSearch ------------------------------------------------------------------------

#: Analyzers of every index: ``auxeira_text`` for prose (standard tokenizer, lowercase,
#: ASCII folding, English stemming) and ``auxeira_lowercase`` to match labels exactly
#: whatever their case.
OPENSEARCH_ANALYSIS: dict[str, Any] = {
    "filter": {"auxeira_english_stemmer": {"type": "stemmer", "language": "english"}},
    "analyzer": {
        "auxeira_text": {
            "type": "custom",
            "tokenizer": "standard",
            "filter": ["lowercase", "asciifolding", "auxeira_english_stemmer"],
        },
    },
    "normalizer": {
        "auxeira_lowercase": {"type": "custom", "filter": ["lowercase", "asciifolding"]},
    },
}

# A label is a keyword (exact, filterable, aggregatable) with an analysed ``.text``
# sub-field so that free text finds its words, as the FTS5 column does.
_LABEL = {
    "type": "keyword",
    "normalizer": "auxeira_lowercase",
    "fields": {"text": {"type": "text", "analyzer": "auxeira_text"}},
}
_MAPPING_OF_KIND: dict[FieldKind, dict[str, Any]] = {
    FieldKind.TEXT: {"type": "text", "analyzer": "auxeira_text"},
    FieldKind.KEYWORD: _LABEL,
    FieldKind.TAGS: _LABEL,  # OpenSearch fields take arrays as they are
    FieldKind.INTEGER: {"type": "integer"},
}


def opensearch_mappings(spec: SearchEntity, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The index mappings of one entity.

    ``dynamic: strict`` makes OpenSearch refuse any field not listed here, so a bug
    upstream cannot index an unlisted (possibly personal) attribute.

    Args:
        extra: sink-specific properties to add (the OpenSearch sink's tombstone flag).
    """
    properties: dict[str, Any] = {TENANT_FIELD: {"type": "keyword"}}
    properties.update({f.name: dict(_MAPPING_OF_KIND[f.kind]) for f in spec.fields})
    properties.update(extra or {})
    return {"dynamic": "strict", "properties": properties}


def opensearch_template_body(
    spec: SearchEntity, index_name: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Body of ``PUT _index_template/{index_name}`` for one entity's index.

    The priority outranks a catch-all template of the cluster (OpenSearch refuses two
    overlapping templates of equal priority).
    """
    return {
        "index_patterns": [index_name],
        "priority": 200,
        "template": {
            "settings": {"analysis": OPENSEARCH_ANALYSIS},
            "mappings": opensearch_mappings(spec, extra),
        },
    }
