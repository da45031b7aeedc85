"""The OpenSearch search sink: ordered scripted upserts, tombstone documents, per-item outcomes.

One index per searchable entity, ``auxeira-{env}-{index}``, created from an index
template (mappings and analyzers from :mod:`schemas.search_fields`) put on first use.

Staleness. Every write is a bulk ``update`` with ``scripted_upsert``: a small Painless
script compares the stored ``order_key`` (the envelope's order, 60 zero-padded digits,
:attr:`schemas.envelope.Envelope.order`) with the incoming one and either replaces the
document or does nothing (``ctx.op = 'none'``, answered ``"result": "noop"``: a newer
state is already there, :data:`CONFLICT`, never an error). External versioning was
rejected: it is a Java long (19 digits), and an order is ``(version, stream sequence)``
with sequence numbers of up to 40 digits. The update is atomic per document (OpenSearch
retries it on a concurrent write, ``retry_on_conflict``).

Deletes are written as *tombstone documents* (``{"tenant": ..., "tombstone": true}`` with
their order), not bulk ``delete`` actions, so a late stale update finds the delete's order
and is refused; every query filters tombstones out.

Documents are not routed by tenant: a tenant filter on every query isolates tenants,
and routing by a field that an update may change would put two copies of one ``_id``
on two shards.

Status of a bulk item (shapes of the OpenSearch Bulk API documentation, "Example
response"): 2xx -> applied, or conflict when ``result`` is ``noop``; 429, 5xx,
401/403/408, index missing, connection errors -> retried with backoff, then
:class:`RetryableSinkError`; any other 4xx (``mapper_parsing_exception``,
``strict_dynamic_mapping_exception``, ``illegal_argument_exception``) -> poison.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from auxeira.runtime.epochs import Epoch
from auxeira.runtime.retry import RetryPolicy
from consumers.projections.search import DeleteDoc, SearchMutation
from consumers.sinks.search_base import (
    APPLIED,
    CONFLICT,
    Hit,
    Outcome,
    SearchSink,
    StoredDoc,
    check_limit,
    check_query,
    targets,
)
from schemas.envelope import ORDER_DIGITS
from schemas.errors import PoisonRecordError, RetryableSinkError
from schemas.search_fields import (
    SEARCH_ENTITIES,
    TENANT_FIELD,
    FieldKind,
    SearchEntity,
    opensearch_template_body,
    search_entity,
)

__all__ = [
    "MAX_ID_BYTES",
    "ORDER_FIELD",
    "ORDER_SCRIPT",
    "TOMBSTONE_FIELD",
    "OpenSearchSink",
    "bulk_action",
    "classify",
    "count_body",
    "index_name",
    "order_text",
    "search_body",
]

TOMBSTONE_FIELD = "tombstone"
#: The envelope order of what a document holds, zero-padded (string order = order).
ORDER_FIELD = "order_key"
#: Bulk API: "the document ``_id`` must be 512 bytes or less" (OpenSearch 2.9+).
MAX_ID_BYTES = 512
_EXTRA_MAPPING = {TOMBSTONE_FIELD: {"type": "boolean"}, ORDER_FIELD: {"type": "keyword", "index": False}}
#: Replace the document only when the incoming order is higher than the stored one.
ORDER_SCRIPT = (
    "String held = ctx._source.containsKey(params.field) ? ctx._source.get(params.field) : null; "
    "if (held != null && held.compareTo(params.order) >= 0) { ctx.op = 'none'; } "
    "else { ctx._source.clear(); ctx._source.putAll(params.doc); ctx._source.put(params.field, params.order); }"
)
# Statuses that say the cluster, not the document, is at fault.
_RETRY_STATUSES = frozenset({401, 403, 408, 429})
_RETRY_ERRORS = frozenset({"index_not_found_exception", "cluster_block_exception"})


# -- pure: mutations -> bulk actions, bulk items -> outcomes, queries ------------------


def index_name(env: str, index: str) -> str:
    """``auxeira-{env}-{index}``: one index per entity and environment."""
    return f"auxeira-{env}-{index}"


def bulk_action(m: SearchMutation, env: str) -> dict[str, Any] | PoisonRecordError:
    """The ``helpers.bulk`` action of a mutation, or poison if OpenSearch cannot take it."""
    if len(m.doc_id.encode()) > MAX_ID_BYTES:
        return PoisonRecordError(f"{m.index}/{m.doc_id[:64]}...: id longer than {MAX_ID_BYTES} bytes")
    if isinstance(m, DeleteDoc):
        source: Mapping[str, Any] = {TENANT_FIELD: m.tenant, TOMBSTONE_FIELD: True}
    else:
        source = m.body
    return {
        "_op_type": "update",
        "_index": index_name(env, m.index),
        "_id": m.doc_id,
        "retry_on_conflict": 3,
        "script": {
            "source": ORDER_SCRIPT,
            "lang": "painless",
            "params": {"field": ORDER_FIELD, "order": order_text(m.version), "doc": dict(source)},
        },
        "scripted_upsert": True,
        "upsert": {},
    }


def order_text(order: int) -> str:
    """An order as the index stores it (``order_key``)."""
    return f"{order:0{ORDER_DIGITS}d}"


def classify(item: Mapping[str, Any]) -> Outcome:
    """The outcome of one bulk response item (``{"index": {"status": 201, ...}}``), as
    OpenSearch returns it or as ``streaming_bulk`` reports a failed request."""
    op_type, info = next(iter(item.items()))
    status = info.get("status")
    error = info.get("error")
    kind = error.get("type") if isinstance(error, Mapping) else None
    if isinstance(status, int) and 200 <= status < 300:
        return CONFLICT if info.get("result") == "noop" else APPLIED
    if status == 409 or kind == "version_conflict_engine_exception":
        # retry_on_conflict ran out under concurrent writes: the cluster's state, not the document's
        return RetryableSinkError(f"opensearch kept conflicting on {info.get('_index', '?')}/{info.get('_id', '?')}")
    if status == 404 and op_type == "delete" and error is None:
        return APPLIED
    reason = error.get("reason") if isinstance(error, Mapping) else error
    what = f"{info.get('_index', '?')}/{info.get('_id', '?')}: {status} {kind or ''} {reason or ''}".strip()
    if not isinstance(status, int) or status >= 500 or status in _RETRY_STATUSES or kind in _RETRY_ERRORS:
        return RetryableSinkError(f"opensearch could not index {what}")
    return PoisonRecordError(f"opensearch refused {what}")


def _query_fields(specs: Sequence[SearchEntity]) -> list[str]:
    """``multi_match`` fields with boosts; labels are matched through their ``.text``."""
    boosts: dict[str, float] = {}
    for spec in specs:
        for f in spec.text_fields:
            name = f.name if f.kind is FieldKind.TEXT else f"{f.name}.text"
            boosts[name] = max(boosts.get(name, 0.0), f.boost)
    return [f"{name}^{boost:g}" for name, boost in boosts.items()]


def _live_of(tenant: str) -> dict[str, Any]:
    return {"filter": [{"term": {TENANT_FIELD: tenant}}], "must_not": [{"term": {TOMBSTONE_FIELD: True}}]}


def search_body(text: str, tenant: str, specs: Sequence[SearchEntity], limit: int) -> dict[str, Any]:
    """A search request: any word of ``text`` in the specs' text fields, one tenant,
    no tombstones, with versions."""
    query = {"bool": {"must": [{"multi_match": {"query": text, "fields": _query_fields(specs)}}], **_live_of(tenant)}}
    return {"size": limit, "version": True, "query": query}


def count_body(tenant: str) -> dict[str, Any]:
    """A count request: the live documents of one tenant."""
    return {"query": {"bool": _live_of(tenant)}}


# -- the sink ------------------------------------------------------------------------


class OpenSearchSink(SearchSink):
    """Search sink on OpenSearch (or Amazon OpenSearch Service) through ``opensearch-py``.

    Args:
        client: an ``OpenSearch`` client to use; built from ``url`` on first use otherwise.
        url: the cluster URL (``https://user:pass@host:9200``).
        env: environment name in index names.
        max_attempts: bulk attempts per item before a retryable failure is reported.
        backoff_seconds: the bound of the first wait between attempts; it doubles up to
            ``max_backoff_seconds``, each wait drawn with full jitter (:class:`RetryPolicy`).
        chunk_size: actions per bulk request.
        sleep: injected so tests do not wait.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        url: str | None = None,
        env: str = "local",
        max_attempts: int = 4,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        chunk_size: int = 500,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__()
        if client is None and url is None:
            raise ValueError("OpenSearchSink needs a client or a url")
        self._client, self._url, self.env = client, url, env
        self._retry = RetryPolicy(backoff_seconds, max_backoff_seconds, max_attempts)
        self._chunk_size, self._sleep = chunk_size, sleep
        self._templates_ready = False

    @property
    def client(self) -> Any:
        if self._client is None:
            from opensearchpy import OpenSearch

            self._client = OpenSearch(hosts=[self._url], timeout=10, max_retries=1, retry_on_timeout=True)
        return self._client

    def _apply(self, mutations: Sequence[SearchMutation]) -> list[Outcome]:
        """Steps: 1. put the index templates (first call only) 2. build actions; what
        OpenSearch cannot take is poison 3. bulk; retry the retryable items with backoff
        4. what is still retryable after the last attempt is reported so."""
        self._ensure_templates()
        outcomes: list[Outcome | None] = [None] * len(mutations)
        actions: dict[int, dict[str, Any]] = {}
        for i, m in enumerate(mutations):
            action = bulk_action(m, self.env)
            if isinstance(action, PoisonRecordError):
                outcomes[i] = action
            else:
                actions[i] = action
        pending = list(actions)
        for attempt in range(self._retry.max_attempts):
            if attempt:
                self._sleep(self._retry.delay(attempt - 1))
            for i, item in zip(pending, self._bulk([actions[i] for i in pending])):
                outcomes[i] = classify(item)
            pending = [i for i in pending if isinstance(outcomes[i], RetryableSinkError)]
            if not pending:
                break
        return [o for o in outcomes if o is not None]  # every slot is filled

    def _bulk(self, actions: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
        """One result per action, in order. ``max_retries=0``: the helper's own 429 retry
        would report retried items out of order; the loop in ``_apply`` retries instead."""
        from opensearchpy import helpers

        if not actions:
            return []
        return [
            item
            for _ok, item in helpers.streaming_bulk(
                # 10 MiB per request, within the 5-15 MB the Bulk API documentation advises and
                # far from http.max_content_length, so a 413 never refuses a whole chunk.
                self.client,
                actions,
                chunk_size=self._chunk_size,
                max_chunk_bytes=10 * 2**20,
                max_retries=0,
                raise_on_error=False,
                raise_on_exception=False,
                yield_ok=True,
            )
        ]

    def _ensure_templates(self) -> None:
        if self._templates_ready:
            return
        with _unavailable_is_retryable():
            for spec in SEARCH_ENTITIES:
                name = index_name(self.env, spec.index)
                self.client.indices.put_index_template(
                    name=name, body=opensearch_template_body(spec, name, _EXTRA_MAPPING)
                )
        self._templates_ready = True

    def search(self, text: str, tenant: str, entity: str | None = None, limit: int = 10) -> list[Hit]:
        check_limit(limit)
        check_query(text)
        specs = targets(entity)
        by_name = {index_name(self.env, s.index): s.index for s in specs}
        with _unavailable_is_retryable():
            response = self.client.search(
                index=",".join(by_name), body=search_body(text, tenant, specs, limit), ignore_unavailable=True
            )
        return [
            Hit(
                by_name[h["_index"]],
                h["_id"],
                h["_source"][TENANT_FIELD],
                float(h["_score"]),
                int(h["_source"].get(ORDER_FIELD, 0)),
                _public(h["_source"]),
            )
            for h in response["hits"]["hits"]
        ]

    def count(self, tenant: str, entity: str) -> int:
        name = index_name(self.env, search_entity(entity).index)
        with _unavailable_is_retryable():
            return int(self.client.count(index=name, body=count_body(tenant), ignore_unavailable=True)["count"])

    def get(self, index: str, doc_id: str) -> StoredDoc | None:
        from opensearchpy.exceptions import NotFoundError

        try:
            with _unavailable_is_retryable():
                response = self.client.get(index=index_name(self.env, index), id=doc_id)
        except NotFoundError:  # no such document, or no such index yet
            return None
        source = dict(response["_source"])
        tombstone = source.pop(TOMBSTONE_FIELD, False)
        order = int(source.pop(ORDER_FIELD, 0))
        return StoredDoc(index, doc_id, source[TENANT_FIELD], order, None if tombstone else source)

    def forget_tombstone(self, index: str, doc_id: str) -> bool:
        """Delete the document if it is a tombstone (``Erasable``): read with its sequence number,
        deleted only at that sequence number, so a live document indexed meanwhile is never removed."""
        from opensearchpy.exceptions import ConflictError, NotFoundError

        name = index_name(self.env, index)
        try:
            with _unavailable_is_retryable():
                doc = self.client.get(index=name, id=doc_id)
                if not doc["_source"].get(TOMBSTONE_FIELD, False):
                    return False
                self.client.delete(
                    index=name, id=doc_id, if_seq_no=doc["_seq_no"], if_primary_term=doc["_primary_term"], refresh=True
                )
        except (NotFoundError, ConflictError):  # gone already, or written again meanwhile: not a tombstone
            return False
        return True

    def refresh(self) -> None:
        with _unavailable_is_retryable():
            self.client.indices.refresh(index=index_name(self.env, "*"), ignore_unavailable=True)

    def live_docs(self, index: str) -> Iterator[tuple[str, str, int]]:
        """``(doc_id, tenant, order)`` of every live document of one index (a scroll), for
        the drift check's search for documents whose item is gone."""
        from opensearchpy import helpers

        body = {"query": {"bool": {"must_not": [{"term": {TOMBSTONE_FIELD: True}}]}}}
        with _unavailable_is_retryable():
            for hit in helpers.scan(
                self.client,
                index=index_name(self.env, index),
                query=body,
                _source=[TENANT_FIELD, ORDER_FIELD],
                size=1000,
                ignore_unavailable=True,
            ):
                source = hit["_source"]
                yield hit["_id"], source[TENANT_FIELD], int(source.get(ORDER_FIELD, 0))

    # -- the store's epoch marker (auxeira.runtime.epochs): one document of its own index --

    @property
    def epoch_index(self) -> str:
        return index_name(self.env, "meta")

    def read_epoch(self) -> Epoch | None:
        from opensearchpy.exceptions import NotFoundError

        try:
            with _unavailable_is_retryable():
                response = self.client.get(index=self.epoch_index, id="epoch")
        except NotFoundError:  # no marker, or no index: the cluster lost it or never had it
            return None
        return Epoch.from_dict(response["_source"])

    def write_epoch(self, epoch: Epoch, *, only_if_absent: bool = False) -> Epoch:
        from opensearchpy.exceptions import ConflictError

        try:
            with _unavailable_is_retryable():
                self.client.index(
                    index=self.epoch_index,
                    id="epoch",
                    body=epoch.as_dict(),
                    op_type="create" if only_if_absent else "index",
                    refresh=True,
                )
        except ConflictError:  # only_if_absent, and a marker is there
            return self.read_epoch() or epoch
        return epoch

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _public(source: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document without the sink's own bookkeeping fields."""
    return {k: v for k, v in source.items() if k not in (ORDER_FIELD, TOMBSTONE_FIELD)}


@contextmanager
def _unavailable_is_retryable() -> Iterator[None]:
    """Turn a cluster that cannot answer (connection, 429, 5xx) into RetryableSinkError."""
    from opensearchpy.exceptions import ConnectionError, TransportError

    try:
        yield
    except TransportError as exc:
        status = exc.status_code
        if isinstance(exc, ConnectionError) or not isinstance(status, int) or status == 429 or status >= 500:
            raise RetryableSinkError(f"opensearch unavailable: {exc}") from exc
        raise
