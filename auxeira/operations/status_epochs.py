"""The epoch state of every projection store, and how to rebuild one that lost its state.

:mod:`auxeira.runtime.epochs` keeps the markers; this reads them for ``auxeira status``
(read only: a store never built stays ``unmarked`` until a consumer marks it) and gives
the rebuild commands the one call they need once a rebuild is done,
:func:`mark_store_built`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auxeira.operations.environment import CONSUMERS, Environment
from auxeira.runtime.epochs import Epoch, EpochCheck, EpochRecords, EpochState, inspect, mark_built

__all__ = ["StoreStatus", "mark_store_built", "rebuild_hint", "store_statuses"]


@dataclass(frozen=True)
class StoreStatus:
    """One store's epoch check, with the commands that rebuild it when it needs one."""

    check: EpochCheck
    rebuild: tuple[str, ...] = ()

    @property
    def problem(self) -> bool:
        return self.check.problem

    def as_dict(self) -> dict[str, Any]:
        return {**self.check.as_dict(), "rebuild": list(self.rebuild)}


def epoch_records(env: Environment) -> EpochRecords:
    return EpochRecords(env.dynamodb, env.checkpoint_table)


def store_statuses(env: Environment, stores: tuple[str, ...] = CONSUMERS) -> list[StoreStatus]:
    """Every store's state; a store that cannot be built from here (no Redis configured) is ``unknown``."""
    records = epoch_records(env)
    out = []
    for store in stores:
        try:
            check = inspect(store, env.sink(store), records)
        except Exception as exc:  # noqa: BLE001 - a sink that cannot even be built is "unknown"
            check = EpochCheck(store, EpochState.UNKNOWN, error=f"{type(exc).__name__}: {exc}")
        out.append(StoreStatus(check, rebuild_hint(env, store) if check.problem else ()))
    return out


def rebuild_hint(env: Environment, store: str) -> tuple[str, ...]:
    """What rebuilds ``store``: a backfill of every source table (snapshots fill it, and never
    overwrite a newer change), or a replay when the stream or the lake still holds all it had;
    then a verify. Both rebuilds mark the store built, which clears the alarm."""
    return (
        "auxeira backfill --table all   (a snapshot of every item of every source table)",
        f"or auxeira replay --projection {store} --from <time>   when the stream or the lake holds "
        "every change since the store was last built",
        f"then auxeira verify --projection {store}",
    )


def mark_store_built(env: Environment, store: str, *, by: str) -> Epoch:
    """Record that ``store`` (``cache``, ``search``, ``counters``) holds a complete build now.

    For the rebuild commands, called once their rebuild is done: ``auxeira backfill`` after
    the snapshots of every source table were emitted, ``auxeira replay --projection P`` of
    the whole history after it finished (``by="backfill"`` / ``"replay"``). It writes a new
    epoch into the store and its copy into the checkpoint table, which clears the
    ``reset`` alarm of :class:`auxeira.runtime.epochs.EpochGuard` and ``auxeira status``.
    """
    if store not in CONSUMERS:
        raise ValueError(f"no store {store!r}; choose one of {', '.join(CONSUMERS)}")
    return mark_built(store, env.sink(store), epoch_records(env), by=by)
