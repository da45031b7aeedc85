"""The cache projection (pure) and the cache sinks' version rules.

Sink tests run against both sinks: the in-memory one and Redis (a private
redis-server, or REDIS_URL with keys under a unique tenant that are deleted after).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from auxeira.runtime.sinks import APPLIED, STALE, Erasable, Readable
from consumers.projections.cache import cache_key, project
from consumers.projections.mutations import MAX_VERSION, CacheDelete, CacheMutation, CacheSet
from consumers.sinks import CachedEntry, CacheSink, InMemoryCacheSink, RedisCacheSink
from consumers.sinks.cache_base import encode_version
from schemas import catalog
from schemas.envelope import Envelope, Source, order_of
from schemas.errors import PoisonRecordError
from schemas.wire.json_values import from_json, to_json

TTL_SECONDS = 3600


# -- factories -----------------------------------------------------------------------


def envelope(
    action: str = "updated",
    *,
    version: int = 1,
    after: dict[str, Any] | None = None,
    tenant: str = "t1",
    entity: str = "startup",
    key: str = "STARTUP#1|PROFILE",
    event_id: str = "ev-1",
    sequence: str | None = "100",
) -> Envelope:
    """A valid envelope; ``after`` defaults to a small state unless the action removes."""
    removes = action in ("deleted", "expired")
    if after is None and not removes:
        after = {"startup_id": "1", "name": "Acme", "version": version}
    return Envelope(
        event_id=event_id,
        event_type=f"{entity}.{action}",
        tenant_id=tenant,
        entity=entity,
        key=key,
        version=version,
        source=Source(table="auxeira-startups-dev", sequence_number=sequence)
        if entity in catalog.ENTITIES
        else Source(publisher="svc"),
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        before=None,
        after=None if removes else after,
    )


def put(key: str, version: int, **state: Any) -> CacheSet:
    return CacheSet(key, version, orjson.dumps(state or {"v": version}))


@dataclass
class Cache:
    """A sink under test, the kind it is, and the tenants it has written (for cleanup)."""

    kind: str
    sink: CacheSink
    client: redis.Redis | None = None
    tenants: list[str] = field(default_factory=list)

    def tenant(self) -> str:
        """A fresh tenant, so every test and every example writes its own keys."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.tenants.append(name)
        return name


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    if request.param == "memory":
        yield Cache("memory", InMemoryCacheSink(tombstone_ttl_seconds=TTL_SECONDS))
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_server"))
    state = Cache("redis", RedisCacheSink(client, tombstone_ttl_seconds=TTL_SECONDS), client)
    try:
        yield state
    finally:
        for tenant in state.tenants:
            keys = list(client.scan_iter(match=f"aux:local:{tenant}:*", count=1000))
            if keys:
                client.delete(*keys)
        client.close()


# -- the projection -----------------------------------------------------------------------

KEY = "aux:local:t1:startup:STARTUP#1|PROFILE"


def test_cache_key_names_environment_tenant_entity_and_key() -> None:
    assert cache_key("prod", "t1", "startup", "STARTUP#1|PROFILE") == "aux:prod:t1:startup:STARTUP#1|PROFILE"
    # two environments sharing one Redis never share a key
    assert cache_key("dev", "t1", "startup", "S") != cache_key("prod", "t1", "startup", "S")


@pytest.mark.parametrize("action", ["created", "updated", "soft_deleted", "snapshot"])
def test_actions_that_leave_state_project_to_a_set_of_the_after_image(action: str) -> None:
    # GIVEN an event whose entity still exists afterwards (a soft delete keeps its deleted_at)
    after = {"startup_id": "1", "name": "Acme", "deleted_at": "2025-01-02T00:00:00Z"}
    event = envelope(action, version=7, after=after)
    # WHEN it is projected
    [mutation] = project(event)
    # THEN the cache is asked to hold exactly the after image at the event's order
    assert mutation == CacheSet(KEY, event.order, orjson.dumps(after))
    assert event.order == order_of(7, event.source.sequence_number)


@pytest.mark.parametrize("action", ["deleted", "expired"])
def test_actions_that_remove_the_entity_project_to_a_tombstone(action: str) -> None:
    event = envelope(action, version=8)
    assert project(event) == [CacheDelete(KEY, event.order)]


def test_an_action_or_entity_the_cache_does_not_know_is_skipped_not_poison() -> None:
    # GIVEN event types no one taught the cache (a newer producer's, a published occurrence's)
    for event in (
        envelope("exploded"),
        envelope("updated", entity="page_view"),
        envelope("recorded", entity="page_view"),
        envelope("updated", entity="spaceship"),
    ):
        # WHEN projected THEN nothing is asked of the cache, and nothing raises
        assert project(event) == []


def test_a_published_state_is_cached_and_only_when_recorded() -> None:
    assert project(envelope("recorded", entity="stripe_mrr_sync", key="STARTUP#s1"))
    assert project(envelope("updated", entity="stripe_mrr_sync", key="STARTUP#s1")) == []


def test_a_move_to_another_tenant_leaves_a_tombstone_under_the_old_tenant() -> None:
    # GIVEN an update whose before image belongs to tenant t0 and after image to t1
    event = envelope("updated", version=3).model_copy(update={"before": {"startup_id": "1", "tenant_id": "t0"}})
    # WHEN projected THEN it is cached under t1 and removed under t0, at the same order
    assert project(event) == [
        CacheSet(KEY, event.order, orjson.dumps(event.after)),
        CacheDelete("aux:local:t0:startup:STARTUP#1|PROFILE", event.order),
    ]


def test_a_set_without_after_image_is_poison() -> None:
    event = envelope("updated").model_copy(update={"after": None})
    with pytest.raises(PoisonRecordError, match="no after image"):
        project(event)


def test_any_envelope_order_fits_the_cache() -> None:
    # GIVEN the widest version and sequence an envelope can carry
    event = envelope("updated", version=10**20 - 1, after={}, sequence="9" * 40)
    # WHEN projected THEN its order is within what a sink stores (60 digits)
    [mutation] = project(event)
    assert mutation.version == event.order <= MAX_VERSION and len(str(MAX_VERSION)) == 60


def test_numbers_beyond_64_bits_are_cached_exactly() -> None:
    # GIVEN a 38-digit number as the envelope carries it (a tag: orjson reads big numbers as floats)
    big = 12345678901234567890123456789012345678
    after = to_json({"n": big, "x": Decimal("1.2345678901234567890123456789012345678")})
    # WHEN it is projected THEN the cached JSON reads back digit for digit
    [mutation] = project(envelope("updated", after=after))
    assert from_json(orjson.loads(mutation.state)) == {
        "n": big,
        "x": Decimal("1.2345678901234567890123456789012345678"),
    }


def test_a_state_that_is_not_json_is_poison() -> None:
    event = envelope("updated").model_copy(update={"after": {"when": object()}})
    with pytest.raises(PoisonRecordError, match="not JSON-encodable"):
        project(event)


# -- version rules, against both sinks -------------------------------------------------


def test_a_duplicate_is_a_no_op(cache: Cache) -> None:
    # GIVEN a set that was applied
    key = f"aux:local:{cache.tenant()}:startup:1"
    assert cache.sink.apply([put(key, 3, name="Acme")]) == [APPLIED]
    # WHEN the same mutation arrives again, in a later batch and twice within one
    again = cache.sink.apply([put(key, 3, name="Other")])
    twice = cache.sink.apply([put(key, 4, name="B"), put(key, 4, name="C")])
    # THEN the repeats are no-ops and the first write of each version stands
    assert again == [STALE]
    assert twice == [APPLIED, STALE]
    assert cache.sink.get(key) == CachedEntry(4, {"name": "B"}, tombstone=False, ttl_ms=None)


def test_an_older_version_after_a_newer_one_is_a_no_op(cache: Cache) -> None:
    key = f"aux:local:{cache.tenant()}:startup:1"
    # GIVEN version 5 is cached WHEN version 4 arrives late
    cache.sink.apply([put(key, 5, name="new")])
    result = cache.sink.apply([put(key, 4, name="old")])
    # THEN nothing changes
    assert result == [STALE]
    assert cache.sink.get(key).state == {"name": "new"}  # type: ignore[union-attr]


def test_a_delete_leaves_a_tombstone_with_its_version_and_a_ttl(cache: Cache) -> None:
    key = f"aux:local:{cache.tenant()}:startup:1"
    # GIVEN a cached entity WHEN it is deleted at version 6
    cache.sink.apply([put(key, 5)])
    assert cache.sink.apply([CacheDelete(key, 6)]) == [APPLIED]
    # THEN a tombstone remembers version 6, holds no state, and expires
    entry = cache.sink.get(key)
    assert entry is not None
    assert (entry.version, entry.state, entry.tombstone) == (6, None, True)
    assert entry.ttl_ms is not None and 0 < entry.ttl_ms <= TTL_SECONDS * 1000
    if cache.client is not None:
        assert cache.client.pttl(key) > 0
        assert cache.client.hgetall(key) == {b"v": encode_version(6).encode(), b"t": b"1"}


def test_an_erased_items_tombstone_is_forgotten_and_a_live_entry_never(cache: Cache) -> None:
    """The erase capability (:class:`auxeira.runtime.sinks.Erasable`): only a tombstone goes."""
    assert isinstance(cache.sink, Readable) and isinstance(cache.sink, Erasable)
    tenant = cache.tenant()
    gone_key, live_key = f"aux:local:{tenant}:startup:1", f"aux:local:{tenant}:startup:2"
    cache.sink.apply([put(gone_key, 5), CacheDelete(gone_key, 6), put(live_key, 3)])
    assert cache.sink.forget_tombstone(live_key) is False
    assert cache.sink.get(live_key) is not None
    assert cache.sink.forget_tombstone(gone_key) is True
    assert cache.sink.get(gone_key) is None  # nothing names the erased item any more
    assert cache.sink.forget_tombstone(gone_key) is False


def test_a_stale_update_cannot_resurrect_a_tombstone(cache: Cache) -> None:
    key = f"aux:local:{cache.tenant()}:startup:1"
    # GIVEN an entity deleted at version 6
    cache.sink.apply([put(key, 5), CacheDelete(key, 6)])
    # WHEN updates at a lower and at the same version arrive late
    result = cache.sink.apply([put(key, 5), put(key, 6), CacheDelete(key, 6)])
    # THEN none applies and the tombstone stands
    assert result == [STALE, STALE, STALE]
    entry = cache.sink.get(key)
    assert entry is not None and entry.tombstone and entry.version == 6


def test_a_newer_create_after_a_tombstone_applies_and_clears_the_ttl(cache: Cache) -> None:
    key = f"aux:local:{cache.tenant()}:startup:1"
    # GIVEN a tombstone at version 6
    cache.sink.apply([CacheDelete(key, 6)])
    # WHEN the entity is created again at version 7
    assert cache.sink.apply([put(key, 7, name="again")]) == [APPLIED]
    # THEN it is live, permanent and no longer a tombstone
    assert cache.sink.get(key) == CachedEntry(7, {"name": "again"}, tombstone=False, ttl_ms=None)
    if cache.client is not None:
        assert cache.client.pttl(key) == -1
        assert cache.client.hexists(key, "t") is False


def test_a_batch_applies_in_order_with_one_flag_per_mutation(cache: Cache) -> None:
    a, b = (f"aux:local:{cache.tenant()}:startup:{k}" for k in "ab")
    batch = [put(a, 1), put(b, 1), put(a, 2), CacheDelete(a, 3), put(a, 2), put(b, 1)]
    assert cache.sink.apply(batch) == [APPLIED, APPLIED, APPLIED, APPLIED, STALE, STALE]
    assert cache.sink.apply([]) == []


def test_a_batch_replayed_after_a_crash_converges(cache: Cache) -> None:
    # GIVEN a batch whose first k mutations were applied before the consumer crashed
    tenant = cache.tenant()
    batch = [put(f"aux:local:{tenant}:startup:{i % 3}", i, n=i) for i in range(1, 10)]
    batch.insert(5, CacheDelete(f"aux:local:{tenant}:startup:1", 5))
    cache.sink.apply(batch[:4])
    # WHEN the whole batch is delivered again
    replay = cache.sink.apply(batch)
    # THEN the replayed prefix is a no-op and the cache equals one clean pass
    assert replay[:4] == [STALE] * 4
    clean = InMemoryCacheSink()
    clean.apply(batch)
    for key in sorted(clean.scan_keys(tenant)):
        assert _essence(cache.sink.get(key)) == _essence(clean.get(key))


def test_scan_keys_lists_one_tenants_keys_tombstones_included(cache: Cache) -> None:
    mine, other = cache.tenant(), cache.tenant()
    cache.sink.apply(
        [
            put(f"aux:local:{mine}:startup:1", 1),
            CacheDelete(f"aux:local:{mine}:user:2", 1),
            put(f"aux:local:{other}:startup:1", 1),
        ]
    )
    assert sorted(cache.sink.scan_keys(mine)) == [f"aux:local:{mine}:startup:1", f"aux:local:{mine}:user:2"]
    if not os.environ.get("REDIS_URL"):  # a shared Redis may hold millions of keys
        assert {f"aux:local:{other}:startup:1", f"aux:local:{mine}:user:2"} <= set(cache.sink.scan_keys())


def test_the_absent_key_reads_as_none(cache: Cache) -> None:
    assert cache.sink.get(f"aux:local:{cache.tenant()}:startup:missing") is None


def test_projected_events_reach_the_sink(cache: Cache) -> None:
    # GIVEN events for one startup, delivered out of order with a duplicate
    tenant = cache.tenant()
    events = [
        envelope("created", version=1, tenant=tenant),
        envelope("deleted", version=3, tenant=tenant),
        envelope("updated", version=2, tenant=tenant),
        envelope("deleted", version=3, tenant=tenant),
    ]
    # WHEN they are projected and applied
    result = cache.sink.apply([m for e in events for m in project(e)])
    # THEN only the create and the delete applied, and a tombstone remains
    assert result == [APPLIED, APPLIED, STALE, STALE]
    entry = cache.sink.get(cache_key("local", tenant, "startup", "STARTUP#1|PROFILE"))
    assert entry is not None and entry.tombstone and entry.version == events[1].order


def test_the_in_memory_tombstone_expires_after_its_ttl() -> None:
    # GIVEN a tombstone in a sink whose clock we control
    now = [1000.0]
    sink = InMemoryCacheSink(tombstone_ttl_seconds=60, clock=lambda: now[0])
    sink.apply([CacheDelete("aux:local:t:e:1", 4)])
    now[0] += 59
    assert sink.get("aux:local:t:e:1").ttl_ms == 1000  # type: ignore[union-attr]
    # WHEN its TTL passes THEN the key is gone, as Redis would drop it
    now[0] += 1
    assert sink.get("aux:local:t:e:1") is None
    assert list(sink.scan_keys("t")) == []


def test_both_sinks_are_cache_sinks() -> None:
    assert isinstance(InMemoryCacheSink(), CacheSink)
    assert isinstance(RedisCacheSink(url="redis://127.0.0.1:1/0"), CacheSink)  # no I/O yet


# -- property: delivery order and duplicates do not matter ---------------------------------

_KEYS = ("a", "b", "c")
_states = st.dictionaries(
    st.sampled_from(["name", "stage", "score"]), st.one_of(st.integers(-5, 5), st.text(max_size=3)), max_size=3
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[tuple[str, int, dict | None]], list[int], int]:
    """A history (key, version, state or None for a delete) with rising versions per key,
    the order its events are delivered in (each at least once, some twice), a batch size."""
    base = draw(st.sampled_from([0, 2**53 - 2, 10**19 - 2, 10**39, 10**59]))  # widths Lua must order
    versions = dict.fromkeys(_KEYS, base)
    history = []
    for _ in range(draw(st.integers(1, 20))):
        key = draw(st.sampled_from(_KEYS))
        versions[key] += draw(st.integers(1, 3))
        history.append((key, versions[key], draw(st.one_of(st.none(), _states))))
    extra = draw(st.lists(st.integers(0, len(history) - 1), max_size=len(history)))
    order = draw(st.permutations(list(range(len(history))) + extra))
    return history, order, draw(st.integers(1, 8))


def _mutation(tenant: str, event: tuple[str, int, dict | None]) -> CacheMutation:
    key, version, state = event
    redis_key = f"aux:local:{tenant}:startup:{key}"
    if state is None:
        return CacheDelete(redis_key, version)
    return CacheSet(redis_key, version, orjson.dumps(state))


def _essence(entry: CachedEntry | None) -> tuple | None:
    """What must converge; a TTL's exact milliseconds depend on when it was set."""
    if entry is None:
        return None
    return (entry.version, entry.state, entry.tombstone, entry.ttl_ms is None)


def test_any_delivery_order_with_duplicates_ends_in_the_in_order_state(cache: Cache) -> None:
    @settings(max_examples=200 if cache.kind == "memory" else 30, deadline=None)
    @given(deliveries())
    def check(case: tuple[list, list[int], int]) -> None:
        history, order, batch_size = case
        in_order, shuffled = cache.tenant(), cache.tenant()
        # GIVEN the history applied in order, one event per batch
        for event in history:
            cache.sink.apply([_mutation(in_order, event)])
        # WHEN it is delivered shuffled, with duplicates, in batches
        delivered = [_mutation(shuffled, history[i]) for i in order]
        for start in range(0, len(delivered), batch_size):
            cache.sink.apply(delivered[start : start + batch_size])
        # THEN every key ends as in order: the state of its highest version
        for key in _KEYS:
            expected = _essence(cache.sink.get(f"aux:local:{in_order}:startup:{key}"))
            assert _essence(cache.sink.get(f"aux:local:{shuffled}:startup:{key}")) == expected
            last = max((e for e in history if e[0] == key), key=lambda e: e[1], default=None)
            if last is None:
                assert expected is None
            else:
                _, version, state = last
                assert expected == (version, state, state is None, state is not None)

    check()


def test_a_batch_with_an_invalid_mutation_writes_nothing(cache: Cache) -> None:
    # GIVEN a batch whose last mutation has a version no sink can order
    key = f"aux:local:{cache.tenant()}:startup:1"
    batch = [put(key, 1), CacheDelete(key, MAX_VERSION + 1)]
    # WHEN it is applied THEN it is refused whole, before any write
    with pytest.raises(ValueError, match="outside"):
        cache.sink.apply(batch)
    with pytest.raises(TypeError, match="not a cache mutation"):
        cache.sink.apply([put(key, 1), ("set", key)])  # type: ignore[list-item]
    assert cache.sink.get(key) is None


def test_two_environments_sharing_one_redis_never_see_each_others_keys(redis_server) -> None:
    client = redis.Redis.from_url(redis_server)
    tenant = f"test-{uuid.uuid4().hex[:12]}"
    dev, prod = RedisCacheSink(client, namespace="dev"), RedisCacheSink(client, namespace="prod")
    event = envelope("updated", tenant=tenant)
    try:
        dev.apply(project(event, "dev"))
        prod.apply(project(event.model_copy(update={"after": {"name": "prod"}}), "prod"))
        assert [from_json(dev.get(k).state) for k in dev.scan_keys(tenant)] == [event.after]
        assert [from_json(prod.get(k).state) for k in prod.scan_keys(tenant)] == [{"name": "prod"}]
    finally:
        for namespace in ("dev", "prod"):
            keys = list(client.scan_iter(match=f"aux:{namespace}:{tenant}:*"))
            if keys:
                client.delete(*keys)
