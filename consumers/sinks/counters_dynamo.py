"""The counters table in DynamoDB: one conditional UpdateItem per counter item per batch.

Item layout (table ``auxeira-counters-{env}``, hash key ``PK``, no stream, so writing
counters cannot loop back through the router)::

    PK           "t1#STARTUP#s1"     tenant, then the parent key
    tenant_id    "t1"                on every item: tenant isolation, and the GSI's sort key
    parent_key   "STARTUP#s1"        hash key of ParentKeyIndex (find a parent in any tenant)
    activities_count, aux_token_balance, ...   numbers (ADD)
    last_activity_at                 canonical UTC timestamp (raised, never lowered)
    hist#contributions#2500_5        histogram bucket: live items with that value (ADD ±1)
    target_amount, ver#target_amount latest value and the envelope order that set it (a padded string)
    wm#shardId-000000000000          watermark: last sequence number written from that shard

One UpdateItem per :class:`CounterUpdate`::

    SET #wm = :watermark, tenant_id/parent_key = if_not_exists(...), #max = :max,
        #latest = :value, #ver = :version            (REMOVE #latest when the value is gone)
    ADD #counter :net, #bucket :n, ...
    CONDITION (attribute_not_exists(#wm) OR #wm < :first_part)
              AND (attribute_not_exists(#max) OR #max <= :max)
              AND (attribute_not_exists(#ver) OR #ver < :version)

Why it is exactly-once per counter item, and what a failed condition means
------------------------------------------------------------------------
A batch's updates are independent UpdateItems, so a crash, a throttled item or a
partial batch response can leave some items of a batch written and others not. Each
item's watermark records how far *that item* got on *that shard*: a redelivered batch
(whole, from its lowest failed record, or cut differently) finds the parts it already
wrote at or below the watermark. The condition lets an update through only when none
of its parts is covered. When it fails, the old item comes back with the error
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``) and the sink decides:

* every part covered: the batch was already written to this item -> ``REPLAYED``, a no-op;
* some parts covered: re-issue the update with the rest only -> ``RESUMED``;
* a max counter already at or above ours, or a latest counter already at our version
  or a newer one: re-issue without it (it was not newer).

An expression string may not pass 4 KB (DynamoDB developer guide, "Expression
parameters") and each ADD term takes about 13 characters. Max and latest counters are
bounded by the rules, but histogram buckets by the data, so an update ADDing more than
:data:`MAX_ADDS` attributes is cut between records into several UpdateItems, each
watermarked at its own last record (:meth:`CounterUpdate.chunks`): still exactly once,
and a batch full of one loan's distinct amounts cannot fail forever and stall the shard.

Watermarks assume one shard is processed in order by one invocation at a time
(Lambda ``ParallelizationFactor: 1`` on this consumer's event source mapping).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from auxeira.runtime.epochs import Epoch
from auxeira.runtime.retry import full_jitter
from consumers.projections.counters import (
    VERSION_PREFIX,
    CounterItem,
    CounterUpdate,
    Latest,
    WriteOutcome,
    WriteStats,
    item_key,
)
from schemas.envelope import ORDER_DIGITS
from schemas.errors import RetryableSinkError
from schemas.resources import COUNTERS_TABLE

__all__ = [
    "MAX_ADDS",
    "PARENT_INDEX",
    "WATERMARK_PREFIX",
    "DynamoCounterSink",
    "update_item_kwargs",
]

PARENT_INDEX = COUNTERS_TABLE.gsis[0].name
#: Distinct ADD attributes per UpdateItem: 200 terms of ~13 characters leave room in the
#: 4 KB expression for the SET terms.
MAX_ADDS = 200
WATERMARK_PREFIX = "wm#"
_META = frozenset({"PK", "tenant_id", "parent_key"})
#: The epoch marker's key: no counter item's (``{tenant}#{PARENT}#{id}``) can be this.
_EPOCH_KEY = {"PK": {"S": "__epoch__"}}
#: Worth retrying in place: throttling and server-side errors (DynamoDB developer guide,
#: "Error handling with DynamoDB"). Anything else fails the item for redelivery at once.
_RETRY_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def update_item_kwargs(
    table: str, update: CounterUpdate, maxes: dict[str, str], latest: dict[str, Latest] | None = None
) -> dict[str, Any]:
    """The conditional UpdateItem of one update.

    Args:
        maxes: the max counters to raise.
        latest: the latest counters to set (``update.latest()`` when None).
    """
    names = {"#wm": WATERMARK_PREFIX + update.shard, "#t": "tenant_id", "#p": "parent_key"}
    values: dict[str, Any] = {
        ":wm": {"S": update.watermark},
        ":first": {"S": update.first_sequence},
        ":t": {"S": update.tenant},
        ":p": {"S": update.parent_key},
    }
    sets = ["#wm = :wm", "#t = if_not_exists(#t, :t)", "#p = if_not_exists(#p, :p)"]
    conditions = ["(attribute_not_exists(#wm) OR #wm < :first)"]
    for n, (name, moment) in enumerate(sorted(maxes.items())):
        names[f"#m{n}"], values[f":m{n}"] = name, {"S": moment}
        sets.append(f"#m{n} = :m{n}")
        conditions.append(f"(attribute_not_exists(#m{n}) OR #m{n} <= :m{n})")
    removes = _latest_terms(update.latest() if latest is None else latest, names, values, sets, conditions)
    adds = []
    for n, (name, amount) in enumerate(sorted(update.adds().items())):
        names[f"#a{n}"], values[f":a{n}"] = name, {"N": str(amount)}
        adds.append(f"#a{n} :a{n}")
    expression = (
        "SET "
        + ", ".join(sets)
        + (" REMOVE " + ", ".join(removes) if removes else "")
        + (" ADD " + ", ".join(adds) if adds else "")
    )
    return {
        "TableName": table,
        "Key": {"PK": {"S": update.key}},
        "UpdateExpression": expression,
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def _latest_terms(
    latest: dict[str, Latest], names: dict[str, str], values: dict[str, Any], sets: list[str], conditions: list[str]
) -> list[str]:
    """SET each latest value and its version, guarded by the stored version; the REMOVE terms."""
    removes = []
    for n, (name, (version, value)) in enumerate(sorted(latest.items())):
        # An envelope order has up to 60 digits, past a DynamoDB number's 38: stored as a
        # zero-padded string, whose order in a condition expression is numeric order.
        names[f"#l{n}"], names[f"#v{n}"], values[f":v{n}"] = name, VERSION_PREFIX + name, {"S": order_text(version)}
        sets.append(f"#v{n} = :v{n}")
        conditions.append(f"(attribute_not_exists(#v{n}) OR #v{n} < :v{n})")
        if value is None:  # gone at this version: the version stays, so older states stay out
            removes.append(f"#l{n}")
        else:
            values[f":l{n}"] = {"S": value} if isinstance(value, str) else {"N": str(value)}
            sets.append(f"#l{n} = :l{n}")
    return removes


class DynamoCounterSink:
    """Counters in a DynamoDB table, written through a low-level boto3 client.

    Args:
        client: ``boto3.client("dynamodb")`` (thread-safe; used from ``max_workers`` threads).
        table_name: the counters table.
        max_workers: UpdateItems in flight at once (there is no batch UpdateItem).
        max_attempts: calls per update before it fails with ``RetryableSinkError``.
        sleep, backoff_base, backoff_cap: the wait between throttled attempts (full jitter).
        max_adds: distinct ADD attributes per UpdateItem (see :data:`MAX_ADDS`).
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        max_workers: int = 8,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
        max_adds: int = MAX_ADDS,
    ):
        self._client = client
        self.table_name = table_name
        self._workers = max(1, max_workers)
        self._attempts = max_attempts
        self._sleep = sleep
        self._base, self._cap = backoff_base, backoff_cap
        self._max_adds = max_adds
        self._lock = threading.Lock()
        self.stats = WriteStats()

    # -- writes ------------------------------------------------------------------------

    def write(self, updates: Sequence[CounterUpdate]) -> list[WriteOutcome | BaseException]:
        """Write every update; one outcome per update, in order.

        An outcome is a :class:`WriteOutcome`, or the ``RetryableSinkError`` of an update
        that could not be written (throttled past ``max_attempts``, table unreachable):
        its records are reported failed and redelivered, and the watermark makes the
        redelivery skip whatever this call did write.
        """
        if self._workers == 1 or len(updates) <= 1:
            return [self._outcome(u) for u in updates]
        with ThreadPoolExecutor(max_workers=min(self._workers, len(updates))) as pool:
            return list(pool.map(self._outcome, updates))

    def _outcome(self, update: CounterUpdate) -> WriteOutcome | BaseException:
        try:
            outcome: WriteOutcome | BaseException = self._write_one(update)
        except RetryableSinkError as exc:
            outcome = exc
        except (ClientError, BotoCoreError) as exc:  # the read after a failed condition
            outcome = RetryableSinkError(f"counters {update.key}: {exc}")
        with self._lock:
            self.stats.count(outcome)
        return outcome

    def _write_one(self, update: CounterUpdate) -> WriteOutcome:
        """One UpdateItem, or one per piece when its ADDs would pass the expression limit."""
        pieces = update.chunks(self._max_adds)
        outcomes = {self._write_piece(piece) for piece in pieces}
        return outcomes.pop() if len(outcomes) == 1 else WriteOutcome.RESUMED

    def _write_piece(self, update: CounterUpdate) -> WriteOutcome:
        current, maxes, latest, resumed = update, update.maxes(), update.latest(), False
        last_error = "no attempt made"
        for attempt in range(self._attempts):
            try:
                self._client.update_item(**update_item_kwargs(self.table_name, current, maxes, latest))
                self._bump("writes")
                return WriteOutcome.RESUMED if resumed else WriteOutcome.APPLIED
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                self._bump("writes")
                if code == "ConditionalCheckFailedException":
                    self._bump("conditional_failures")
                    old = self._old_item(exc, current)
                    rest = current.after(old.watermarks.get(current.shard))
                    if rest is None:
                        return WriteOutcome.RESUMED if resumed else WriteOutcome.REPLAYED
                    resumed = resumed or rest is not current
                    current = rest
                    maxes = {k: v for k, v in rest.maxes().items() if v > str(old.values.get(k, ""))}
                    latest = {k: v for k, v in rest.latest().items() if _newer(v[0], old.version(k))}
                    continue
                if code not in _RETRY_CODES:
                    raise RetryableSinkError(f"counters {update.key}: {code}: {exc}") from exc
                last_error = code
                self._backoff(attempt)
            except BotoCoreError as exc:  # connection refused, timeouts: the store may come back
                last_error = f"{type(exc).__name__}: {exc}"
                self._backoff(attempt)
        raise RetryableSinkError(f"counters {update.key}: not written after {self._attempts} attempts ({last_error})")

    def _old_item(self, exc: ClientError, update: CounterUpdate) -> CounterItem:
        """The item as the failed condition saw it (from the error, else a consistent read)."""
        raw = exc.response.get("Item")
        if raw is not None:
            return _item(raw)
        return self.get(update.tenant, update.parent_key) or CounterItem(update.tenant, update.parent_key)

    def _backoff(self, attempt: int) -> None:
        self._bump("throttled")
        if attempt + 1 < self._attempts:
            self._sleep(full_jitter(attempt, base=self._base, cap=self._cap))

    def _bump(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    # -- reads -------------------------------------------------------------------------

    def get(self, tenant: str, parent_key: str) -> CounterItem | None:
        """The counter item of one parent in one tenant (consistent read), or None."""
        raw = self._client.get_item(
            TableName=self.table_name, ConsistentRead=True, Key={"PK": {"S": item_key(tenant, parent_key)}}
        ).get("Item")
        return None if raw is None else _item(raw)

    def find(self, parent_key: str) -> list[CounterItem]:
        """The counter items of a parent key in every tenant (through ParentKeyIndex)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": PARENT_INDEX,
            "KeyConditionExpression": "parent_key = :p",
            "ExpressionAttributeValues": {":p": {"S": parent_key}},
        }
        tenants = [row["tenant_id"]["S"] for row in _pages(self._client.query, kwargs)]
        return [item for t in tenants if (item := self.get(t, parent_key)) is not None]

    def scan(self, tenant: str | None = None) -> Iterator[CounterItem]:
        """Every counter item (of one tenant), consistent reads."""
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        if tenant is not None:
            kwargs.update(FilterExpression="tenant_id = :t", ExpressionAttributeValues={":t": {"S": tenant}})
        # Every counter item has its tenant; the epoch marker has none.
        return (_item(raw) for raw in _pages(self._client.scan, kwargs) if "tenant_id" in raw)

    # -- the store's epoch marker (auxeira.runtime.epochs): one item, no tenant ----------

    def read_epoch(self) -> Epoch | None:
        raw = self._client.get_item(TableName=self.table_name, ConsistentRead=True, Key=_EPOCH_KEY).get("Item")
        return None if raw is None else Epoch(raw["epoch"]["S"], raw["built_at"]["S"], raw.get("by", {}).get("S", ""))

    def write_epoch(self, epoch: Epoch, *, only_if_absent: bool = False) -> Epoch:
        item = {**_EPOCH_KEY, "epoch": {"S": epoch.id}, "built_at": {"S": epoch.built_at}, "by": {"S": epoch.by}}
        condition = {"ConditionExpression": "attribute_not_exists(PK)"} if only_if_absent else {}
        try:
            self._client.put_item(TableName=self.table_name, Item=item, **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self.read_epoch() or epoch
        return epoch


def _newer(version: int, stored: int | None) -> bool:
    return stored is None or version > stored


def _pages(call: Callable[..., dict[str, Any]], kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    while True:
        page = call(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def order_text(order: int) -> str:
    """An envelope order as the counters table stores it (``ver#...``)."""
    return f"{order:0{ORDER_DIGITS}d}"


def _item(raw: dict[str, Any]) -> CounterItem:
    values: dict[str, Any] = {}
    watermarks: dict[str, str] = {}
    for name, attr in raw.items():
        if name.startswith(WATERMARK_PREFIX):
            watermarks[name[len(WATERMARK_PREFIX) :]] = attr["S"]
        elif name.startswith(VERSION_PREFIX) and "S" in attr:
            values[name] = int(attr["S"])
        elif name not in _META:
            values[name] = _number(attr["N"]) if "N" in attr else attr.get("S")
    return CounterItem(raw["tenant_id"]["S"], raw["parent_key"]["S"], values, watermarks)


def _number(text: str) -> int | Decimal:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else value
