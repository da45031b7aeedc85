"""A function's environment, rendered from the fields of its settings class.

Every field of the class that the stack can supply gets its variable (``AUXEIRA_ENV``,
``AUXEIRA_LAKE_ROOT``, ``AUXEIRA_REDIS_URL``...), named by
:func:`auxeira.runtime.settings.variable` so a variable's name lives in one place. A
field the class requires when deployed (``required_when_deployed``) and the stack cannot
supply is a render error: a function that would fail its cold start for a missing
variable cannot be rendered. Fields left out keep their defaults (timeouts, the
tombstone TTL); the region comes from Lambda's own ``AWS_REGION``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import AliasChoices

from auxeira.runtime.settings import RuntimeSettings, variable
from infra.cloudformation.buckets import LAKE_BUCKET
from infra.cloudformation.cache_cluster import redis_auth_token, redis_url
from infra.cloudformation.model import ref, sub
from infra.cloudformation.search_domain import search_url

__all__ = ["VALUES", "function_environment", "variable_of"]

#: Settings field -> its value in the stack.
VALUES: dict[str, Callable[[], Any]] = {
    "env": lambda: ref("Env"),
    "lake_root": lambda: sub(f"s3://${{{LAKE_BUCKET}}}"),
    "redis_url": redis_url,
    "redis_auth_token": redis_auth_token,
    "opensearch_url": search_url,
}


def variable_of(cls: type[RuntimeSettings], field: str) -> str:
    """The variable a field reads: ``AUXEIRA_<FIELD>``, which must be one of its aliases if it has any."""
    name = variable(field)
    alias = cls.model_fields[field].validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else [name]
    if name not in choices:
        raise ValueError(f"{cls.__name__}.{field} is not read from {name} (aliases: {choices})")
    return name


def function_environment(cls: type[RuntimeSettings]) -> dict[str, Any]:
    """``Environment.Variables`` of a function whose handler validates ``cls`` at cold start."""
    missing = [f for f in cls.required_when_deployed if f not in VALUES]
    if missing:
        raise ValueError(f"{cls.__name__} requires {', '.join(missing)} when deployed, and the stack supplies no value")
    return {variable_of(cls, name): VALUES[name]() for name in cls.model_fields if name in VALUES}
