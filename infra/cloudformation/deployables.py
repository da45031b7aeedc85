"""What each deployed function needs beyond its mapping: stores, placement, size.

The registry's :class:`~schemas.resources.MappingSpec` says what a function reads (the
events stream or every table stream) and how; it cannot say which stores the function
writes. That is declared here, once per consumer, as a :class:`Deployable`; the IAM,
network and function renderers read it. A mapping without a deployable is an error
(:func:`deployable`), so a consumer added to the registry cannot be deployed with
permissions nobody decided on.

The settings class of a consumer is found by name (``counters`` -> ``CountersSettings``
in :mod:`auxeira.runtime.settings`), the convention every handler follows
(``lambda_entry(CountersSettings, ...)``); its fields decide the function's environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from auxeira.runtime import settings as settings_module
from auxeira.runtime.settings import RuntimeSettings
from schemas.resources import LAKE, REGISTRY, MappingSpec, Registry

__all__ = [
    "DEPLOYABLES",
    "Deployable",
    "Store",
    "deployable",
    "deployables",
    "function_id",
    "function_name",
    "role_id",
    "settings_class",
]


class Store(StrEnum):
    """A store a function writes or reads besides its source and its dead letters."""

    EVENTS = "events"  # PutRecords to the events stream
    COUNTERS = "counters"  # UpdateItem/GetItem/PutItem on the counters table (its epoch marker is an item)
    EPOCHS = "epochs"  # GetItem/PutItem of the store's epoch copy in the checkpoints table (auxeira.runtime.epochs)
    CACHE = "cache"  # Redis (network access, AUTH token)
    SEARCH = "search"  # OpenSearch over HTTPS, SigV4
    RAW_LAKE = "raw-lake"  # the archive of raw events


@dataclass(frozen=True)
class Deployable:
    """One function: the stores it uses, its memory and timeout.

    Attributes:
        timeout_seconds: longer than a batch takes plus the handler's pause before
            returning retryable failures (at most 30 s, ``auxeira.runtime.handlers``).
        lake_prefixes: lake prefixes the function writes (and lists) besides its dead letters.
    """

    consumer: str
    stores: frozenset[Store]
    memory_mb: int = 1024
    timeout_seconds: int = 120
    lake_prefixes: tuple[str, ...] = ()

    @property
    def in_vpc(self) -> bool:
        """Functions reaching the VPC's stores run in the VPC; the rest reach only AWS APIs."""
        return bool(self.stores & {Store.CACHE, Store.SEARCH})


DEPLOYABLES: dict[str, Deployable] = {
    d.consumer: d
    for d in (
        Deployable("router", frozenset({Store.EVENTS}), memory_mb=512),
        Deployable("cache", frozenset({Store.CACHE, Store.EPOCHS})),
        Deployable("search", frozenset({Store.SEARCH, Store.EPOCHS})),
        Deployable("counters", frozenset({Store.COUNTERS, Store.EPOCHS})),
        Deployable("archiver", frozenset({Store.RAW_LAKE}), lake_prefixes=(f"{LAKE.raw}/",)),
    )
}


def deployable(spec: MappingSpec) -> Deployable:
    try:
        return DEPLOYABLES[spec.consumer]
    except KeyError:
        raise KeyError(
            f"consumer {spec.consumer!r} has a mapping but no Deployable in infra/cloudformation/deployables.py: "
            "declare the stores it uses before it can be deployed"
        ) from None


def deployables(registry: Registry = REGISTRY) -> list[tuple[MappingSpec, Deployable]]:
    """Every mapping of the registry with its deployable, in the registry's order."""
    return [(spec, deployable(spec)) for spec in registry.mappings]


def function_name(spec: MappingSpec) -> str:
    """The function's physical name, with ``{env}`` (``auxeira-counters-{env}``)."""
    return f"auxeira-{spec.consumer}-{{env}}"


def function_id(spec: MappingSpec) -> str:
    """The function's logical id (``CountersFunction``; the mappings refer to it)."""
    return f"{spec.logical_name}Function"


def role_id(spec: MappingSpec) -> str:
    return f"{spec.logical_name}FunctionRole"


def settings_class(spec: MappingSpec) -> type[RuntimeSettings]:
    cls = getattr(settings_module, f"{spec.logical_name}Settings", None)
    if not (isinstance(cls, type) and issubclass(cls, RuntimeSettings)):
        raise KeyError(f"consumer {spec.consumer!r}: no {spec.logical_name}Settings in auxeira.runtime.settings")
    return cls
