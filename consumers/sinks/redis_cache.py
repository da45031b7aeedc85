"""The Redis cache sink: versioned compare-and-set of one hash per entity.

Layout of ``aux:{tenant}:{entity}:{key}`` (a hash):

* ``v``: the envelope's order, zero-padded to 60 digits. Lua compares these as strings,
  which is numeric order at a fixed width, and stays exact where Lua's doubles would
  lose precision beyond 2^53;
* ``d``: the entity's state as JSON bytes; absent on a tombstone;
* ``t``: ``"1"`` on a tombstone, which also carries a TTL; live entries never expire.

One Lua script does the compare-and-set, so a check and its write cannot interleave
with another consumer's. A batch goes as one non-transactional pipeline of EVALSHA
calls: one round trip, and each mutation stays atomic on its own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence

import orjson
import redis
from hiredis import pack_command
from redis.exceptions import ConnectionError, NoScriptError, ResponseError, TimeoutError

from auxeira.runtime.clients import redis_client
from auxeira.runtime.epochs import Epoch
from auxeira.runtime.sinks import APPLIED, STALE, Outcome
from consumers.projections.cache import tenant_prefix
from consumers.projections.mutations import MAX_VERSION, CacheDelete, CacheMutation, CacheSet
from consumers.sinks.cache_base import VERSION_WIDTH, CachedEntry
from schemas.errors import RetryableSinkError

__all__ = ["CAS_SCRIPT", "RedisCacheSink"]

# The hot loop writes the width as a literal "060d" (a nested format spec is slower).
if VERSION_WIDTH != 60:
    raise ImportError("VERSION_WIDTH changed: update the format in RedisCacheSink._commands")

#: KEYS[1] = cache key; ARGV = padded version, "s" or "d", state bytes, tombstone TTL ms.
#: Returns 1 when applied, 0 when the stored version is >= the new one. Lua compares
#: strings with strcoll, which every locale orders like bytes for equal-length digit
#: strings. A set clears a tombstone's flag and TTL only when there is one: the common
#: update then costs two commands instead of four.
CAS_SCRIPT = """\
local cur = redis.call('HMGET', KEYS[1], 'v', 't')
if cur[1] and cur[1] >= ARGV[1] then
  return 0
end
if ARGV[2] == 'd' then
  redis.call('HDEL', KEYS[1], 'd')
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', '1')
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
else
  if cur[2] then
    redis.call('HDEL', KEYS[1], 't')
    redis.call('PERSIST', KEYS[1])
  end
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[3])
end
return 1
"""

# EVALSHA names a script by the SHA-1 of its text, so it is known without asking Redis.
_SHA = hashlib.sha1(CAS_SCRIPT.encode()).hexdigest()
# (key, padded version, "s" | "d", state, tombstone TTL ms)
_Command = tuple[str, str, str, bytes, str]
_UNAVAILABLE = (ConnectionError, TimeoutError)  # BusyLoadingError is a ConnectionError
#: Deletes a key only if it holds a tombstone (field ``t`` is "1").
_FORGET_TOMBSTONE = "if redis.call('HGET', KEYS[1], 't') == '1' then return redis.call('DEL', KEYS[1]) end return 0"
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class RedisCacheSink:
    """Cache sink on Redis (or Valkey, ElastiCache).

    Args:
        client: a client to use; its retry policy applies.
        url: ``redis://`` or ``rediss://`` (TLS) URL to build a client from on first use,
            if no client is given (:func:`auxeira.runtime.clients.redis_client`).
        auth_token: the AUTH token (ElastiCache), when it is not in the URL.
        tombstone_ttl_seconds: how long a delete's tombstone is kept.
    """

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        url: str | None = None,
        auth_token: str | None = None,
        tombstone_ttl_seconds: int = 7 * 86400,
        namespace: str = "local",
    ):
        self.namespace = namespace
        if client is None and url is None:
            raise ValueError("RedisCacheSink needs a client or a url")
        if tombstone_ttl_seconds <= 0:
            raise ValueError("tombstone_ttl_seconds must be positive")
        self._client = client
        self._url = url
        self._auth_token = auth_token
        self._ttl_ms = str(tombstone_ttl_seconds * 1000)
        self._script_loaded = False

    @property
    def client(self) -> redis.Redis:
        """The client, built from the URL on first use."""
        if self._client is None:
            assert self._url is not None
            self._client = redis_client(self._url, self._auth_token)
        return self._client

    def apply(self, mutations: Sequence[CacheMutation]) -> list[Outcome]:
        """Apply mutations in order in one round trip; APPLIED or STALE per mutation.

        Steps: 1. check every mutation, so a bad batch writes nothing 2. load the script,
        once per sink 3. send every EVALSHA in one pipeline 4. if Redis lost the script
        (restart, failover, SCRIPT FLUSH), load it again and re-send only the mutations
        that failed with NOSCRIPT: they did not run.

        Raises:
            RetryableSinkError: Redis is unreachable, loading, timed out or refused a
                write (out of memory, wrong type). Re-applying the batch is safe; a
                mutation applied by the failed attempt then reports STALE.
            ValueError: a version outside 0 .. MAX_VERSION (a bug upstream: project()
                turns those into poison).
            TypeError: an item that is neither CacheSet nor CacheDelete.
        """
        if not mutations:
            return []
        commands = self._commands(mutations)
        try:
            if not self._script_loaded:
                self._load_script()
            results = self._evalsha_all(commands)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:
                self._load_script()
                for i, r in zip(missing, self._evalsha_all([commands[i] for i in missing])):
                    results[i] = r
        except _UNAVAILABLE as exc:
            raise RetryableSinkError(f"redis cache unavailable: {exc}") from exc
        return [_applied(r, commands[i][0]) for i, r in enumerate(results)]

    def get(self, redis_key: str) -> CachedEntry | None:
        """The entry under a key (state decoded), or None if there is none."""
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(redis_key)
                pipe.pttl(redis_key)
                fields, pttl = pipe.execute()
        except _UNAVAILABLE as exc:
            raise RetryableSinkError(f"redis cache unavailable: {exc}") from exc
        if not fields:
            return None
        fields = {_text(k): v for k, v in fields.items()}
        data = fields.get("d")
        return CachedEntry(
            version=int(fields["v"]),
            state=None if data is None else orjson.loads(data),
            tombstone=_text(fields.get("t", b"")) == "1",
            ttl_ms=pttl if pttl >= 0 else None,
        )

    def forget_tombstone(self, redis_key: str) -> bool:
        """Delete the entry under ``redis_key`` if it is a tombstone (:class:`auxeira.runtime.sinks.Erasable`):
        checked and deleted in one script, so a live entry written meanwhile is never removed."""
        try:
            return bool(self.client.eval(_FORGET_TOMBSTONE, 1, redis_key))
        except _UNAVAILABLE as exc:
            raise RetryableSinkError(f"redis cache unavailable: {exc}") from exc

    def scan_keys(self, tenant: str | None = None) -> Iterator[str]:
        """Every cache key (of one tenant), each once; SCAN, so Redis is never blocked."""
        match = _GLOB_SPECIAL.sub(r"\\\1", tenant_prefix(self.namespace, tenant)) + "*"
        seen: set[str] = set()  # SCAN may return a key twice while the keyspace rehashes
        try:
            for raw in self.client.scan_iter(match=match, count=1000):
                key = _text(raw)
                if key not in seen:
                    seen.add(key)
                    yield key
        except _UNAVAILABLE as exc:
            raise RetryableSinkError(f"redis cache unavailable: {exc}") from exc

    # -- the store's epoch marker (auxeira.runtime.epochs) ---------------------------

    @property
    def epoch_key(self) -> str:
        """``aux:{env}:__epoch__``: in the environment's namespace, so it goes when the
        namespace goes, and under no tenant's prefix, so a tenant's scan never lists it."""
        return f"aux:{self.namespace}:__epoch__"

    def read_epoch(self) -> Epoch | None:
        try:
            raw = self.client.get(self.epoch_key)
        except _UNAVAILABLE as exc:
            raise RetryableSinkError(f"redis cache unavailable: {exc}") from exc
        return None if raw is None else Epoch.from_json(raw)

    def write_epoch(self, epoch: Epoch, *, only_if_absent: bool = False) -> Epoch:
        try:
            if self.client.set(self.epoch_key, epoch.to_json(), nx=only_if_absent):
                return epoch
            raw = self.client.get(self.epoch_key)
        except _UNAVAILABLE as exc:
            raise RetryableSinkError(f"redis cache unavailable: {exc}") from exc
        return epoch if raw is None else Epoch.from_json(raw)

    # -- I/O helpers ----------------------------------------------------------------

    def _commands(self, mutations: Sequence[CacheMutation]) -> list[_Command]:
        """EVALSHA arguments per mutation; one tight loop, as it runs once per event."""
        ttl = str(self._ttl_ms)  # hiredis packs str and bytes only
        commands: list[_Command] = []
        append = commands.append
        for m in mutations:
            if isinstance(m, CacheSet):
                op, data = "s", m.state
            elif isinstance(m, CacheDelete):
                op, data = "d", b""
            else:
                raise TypeError(f"not a cache mutation: {m!r}")
            version = m.version
            if not 0 <= version <= MAX_VERSION:
                raise ValueError(f"{m.redis_key}: version {version} is outside 0..{MAX_VERSION}")
            append((m.redis_key, f"{version:060d}", op, data, ttl))
        return commands

    def _evalsha_all(self, commands: list[_Command]) -> list[object]:
        """Send every EVALSHA in one write, then read one reply each (errors as values).

        This is what ``pipeline(transaction=False)`` does, without its per-command Python
        bookkeeping: hiredis packs each command in C, and the whole batch goes out in one
        ``sendall``. It roughly halves the client's cost per mutation.
        """
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command(
                # hiredis' stub types the argument as a 1-tuple; it takes any tuple of str/bytes.
                [b"".join([pack_command(("EVALSHA", _SHA, "1", *c)) for c in commands])],  # type: ignore[arg-type]
                check_health=False,
            )
            return [_reply(conn) for _ in commands]
        except BaseException:
            # A half-read reply stream cannot be reused: drop the connection.
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    def _load_script(self) -> None:
        sha = self.client.script_load(CAS_SCRIPT)
        if _text(sha) != _SHA:  # only a server that hashes differently could do this
            raise RuntimeError(f"redis named the cache script {sha!r}, expected {_SHA}")
        self._script_loaded = True


def _reply(conn: redis.connection.AbstractConnection) -> object:
    try:
        return conn.read_response()
    except ResponseError as exc:  # NOSCRIPT, OOM, WRONGTYPE: this command's answer
        return exc


def _applied(result: object, redis_key: str) -> Outcome:
    if isinstance(result, ResponseError):
        # Out of memory, a foreign non-hash value under our key, or NOSCRIPT twice running:
        # none is the record's fault, so it is retried (and alarms) rather than dead-lettered.
        raise RetryableSinkError(f"redis refused the cache write of {redis_key}: {result}")
    return APPLIED if result == 1 else STALE


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
