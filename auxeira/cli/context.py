"""What every command gets from the root callback: settings, clients and the output streams.

``--env``, ``--profile``, ``--region`` and ``--json`` are options of the root command
only (``auxeira --env prod --json status``). Settings are read once, lazily, so that
``--help`` works without any configuration. Where clients point:

1. explicit endpoints (``AUXEIRA_DYNAMODB_ENDPOINT`` ...) win;
2. else an environment on the local stack (``AUXEIRA_STACK=local``, the default for
   environment ``local``) uses the running stack (its endpoints, fixed credentials and
   Redis), and says how to start it when none runs;
3. else AWS, with ``--profile`` and ``--region``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import typer

from auxeira.cli.output import Output
from auxeira.operations.environment import Environment
from auxeira.runtime.clients import ClientFactory
from auxeira.runtime.settings import OperatorSettings, load
from schemas.errors import PipelineError

__all__ = ["LOCAL_ENV", "CliContext", "CliProblem", "context_of"]

LOCAL_ENV = "local"


class CliProblem(PipelineError):
    """A user's mistake the command line reports in one line, with exit code 2."""


@dataclass
class CliContext:
    """The root options of one invocation, and what follows from them."""

    env: str | None = None
    profile: str | None = None
    region: str | None = None
    as_json: bool = False
    debug: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def out(self) -> Output:
        return Output(self.as_json)

    @cached_property
    def settings(self) -> OperatorSettings:
        settings: OperatorSettings = load(
            OperatorSettings, env=self.env, profile=self.profile, region=self.region, **self.overrides
        )
        return settings

    @property
    def is_local(self) -> bool:
        """Whether this environment is on the local stack (``AUXEIRA_STACK``, else env ``local``)."""
        settings = self.settings
        if settings.dynamodb_endpoint:
            return False
        return settings.stack == "local" or (settings.stack is None and settings.environment == LOCAL_ENV)

    @cached_property
    def local_endpoints(self) -> Any:
        """The running local stack's endpoints (raises :class:`CliProblem` when none runs)."""
        from infra.local import LocalStack, LocalStackSettings

        endpoints = LocalStack(LocalStackSettings()).endpoints()
        if endpoints is None:
            raise CliProblem(
                "no local stack is running: start it with `auxeira local up`, "
                "or choose a deployed environment with --env"
            )
        return endpoints

    @cached_property
    def clients(self) -> ClientFactory:
        if self.is_local:
            return self.local_endpoints.client_factory()
        return ClientFactory.from_settings(self.settings)

    @cached_property
    def environment(self) -> Environment:
        """The environment the operations run against (see :mod:`auxeira.operations.environment`)."""
        settings = self.settings
        search_path = settings.search_path
        if self.is_local and not search_path and not settings.opensearch_url:
            from infra.local import LocalStack, LocalStackSettings

            search_path = str(LocalStack(LocalStackSettings()).search_path(settings.environment))
        token = settings.redis_auth_token.get_secret_value() if settings.redis_auth_token else None
        redis_url = settings.redis_url or (self.local_endpoints.redis_url if self.is_local else None)
        return Environment(
            name=settings.environment,
            clients=self.clients,
            lake_root=settings.lake,
            redis_url=redis_url,
            redis_auth_token=token,
            opensearch_url=settings.opensearch_url,
            search_path=search_path,
            failures_root=settings.failures_root,
        )

    @property
    def redis_url(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        if self.is_local:
            return str(self.local_endpoints.redis_url)
        raise CliProblem("no Redis configured: set AUXEIRA_REDIS_URL")


def context_of(ctx: typer.Context) -> CliContext:
    """The :class:`CliContext` the root callback stored (a bare one in a sub-app test)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliContext):
        root.obj = CliContext()
    return root.obj
