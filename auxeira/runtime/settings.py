"""Settings of every deployable, read once from ``AUXEIRA_*`` variables and validated.

Environment variable names appear nowhere else in the code: a handler, the local runner
or the command line builds one settings object at its edge and passes values inward.

Local versus deployed
---------------------
Inside Lambda (``AWS_LAMBDA_FUNCTION_NAME`` is set) nothing defaults to a developer
value: ``AUXEIRA_ENV`` and ``AUXEIRA_LAKE_ROOT`` must be set, the lake must be an
``s3://`` URI, the cache needs a ``rediss://`` URL and the search consumer an
``https://`` OpenSearch URL. A function missing one fails at cold start with a
:class:`SettingsError` that names every missing or wrong variable, instead of failing
each dead-letter write later (a relative ``lake`` directory inside Lambda is a
read-only path, so poison would be retried and then dropped). On a developer's
machine the same classes default to the local stack's values.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.errors import PipelineError
from schemas.resources import CHECKPOINTS_TABLE, COUNTERS_TABLE, REGISTRY

__all__ = [
    "ENV_NAME",
    "ArchiverSettings",
    "CacheSettings",
    "CountersSettings",
    "OperatorSettings",
    "PipelineSettings",
    "RouterSettings",
    "RuntimeSettings",
    "SearchSettings",
    "SettingsError",
    "load",
    "running_in_lambda",
    "variable",
]

#: An environment name: lower-case letters, digits and dashes, starting with a letter.
#: It is spliced into table, stream and index names, whose own rules it must satisfy.
ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_PREFIX = "AUXEIRA_"
_LOCAL_LAKE = "lake"


class SettingsError(PipelineError, ValueError):
    """Settings that cannot run: the message names each variable and what is wrong with it."""


class RuntimeSettings(BaseSettings):
    """What every deployable needs: environment, region, lake, local endpoints.

    Attributes:
        env: the environment (``dev``, ``prod``; ``local`` on a developer's machine).
        lake_root: a local directory or ``s3://bucket/prefix``: raw events, dead
            letters and failure records.
        dynamodb_endpoint, kinesis_endpoint, s3_endpoint: endpoints of local stand-ins;
            None means AWS.
    """

    model_config = SettingsConfigDict(env_prefix=_PREFIX, frozen=True, extra="ignore", populate_by_name=True)

    #: Names of the deployable in messages (``the cache consumer``).
    deployable: ClassVar[str] = "the pipeline"
    #: Fields that must be set explicitly in a deployed function.
    required_when_deployed: ClassVar[tuple[str, ...]] = ("env", "lake_root")

    env: str | None = None
    region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("AUXEIRA_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    lake_root: str | None = None
    log_level: str = "INFO"
    dynamodb_endpoint: str | None = None
    kinesis_endpoint: str | None = None
    s3_endpoint: str | None = None
    #: Set by Lambda itself: its presence is what "deployed" means.
    lambda_function_name: str | None = Field(default=None, validation_alias="AWS_LAMBDA_FUNCTION_NAME")

    @property
    def deployed(self) -> bool:
        return self.lambda_function_name is not None

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an environment name (lower-case letters, digits and "
                "dashes, starting with a letter, at most 24 characters)"
            )
        return value

    @model_validator(mode="after")
    def _complete(self) -> Any:
        problems = self._problems()
        if problems:
            raise ValueError("; ".join(problems))
        if not self.deployed:
            # Developer defaults, only outside Lambda.
            object.__setattr__(self, "env", self.env or "local")
            object.__setattr__(self, "lake_root", self.lake_root or _LOCAL_LAKE)
        return self

    def _problems(self) -> list[str]:
        if not self.deployed:
            return []
        problems = [
            f"{variable(name)} is required in a deployed function"
            for name in self.required_when_deployed
            if getattr(self, name) in (None, "")
        ]
        if self.lake_root and not self.lake_root.startswith("s3://"):
            problems.append(
                f"{variable('lake_root')} must be an s3:// URI in a deployed function (got {self.lake_root!r})"
            )
        return problems

    # -- names from the registry --------------------------------------------------------

    @property
    def environment(self) -> str:
        """The environment, never None once validated."""
        assert self.env is not None
        return self.env

    @property
    def lake(self) -> str:
        assert self.lake_root is not None
        return self.lake_root

    @property
    def stream_name(self) -> str:
        return REGISTRY.stream.physical_name(self.environment)

    @property
    def checkpoint_table(self) -> str:
        return CHECKPOINTS_TABLE.physical_name(self.environment)

    @property
    def counters_table(self) -> str:
        return COUNTERS_TABLE.physical_name(self.environment)


class RouterSettings(RuntimeSettings):
    """The stream router: table streams in, the events stream out."""

    deployable: ClassVar[str] = "the router"


class CacheSettings(RuntimeSettings):
    """The cache consumer: Redis (ElastiCache with TLS and AUTH when deployed)."""

    deployable: ClassVar[str] = "the cache consumer"
    required_when_deployed: ClassVar[tuple[str, ...]] = ("env", "lake_root", "redis_url")

    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("AUXEIRA_REDIS_URL", "REDIS_URL"))
    #: ElastiCache AUTH token, when it is not in the URL.
    redis_auth_token: SecretStr | None = None
    #: How long a delete's tombstone outlives it in the cache (blocks late stale updates).
    tombstone_ttl_seconds: int = Field(default=7 * 86400, gt=0)

    def _problems(self) -> list[str]:
        problems = super()._problems()
        if self.deployed and self.redis_url and not self.redis_url.startswith("rediss://"):
            problems.append(f"{variable('redis_url')} must be a rediss:// (TLS) URL in a deployed function")
        return problems


class SearchSettings(RuntimeSettings):
    """The search consumer: OpenSearch (Amazon OpenSearch Service when deployed), or the
    embedded index on a developer's machine."""

    deployable: ClassVar[str] = "the search consumer"
    required_when_deployed: ClassVar[tuple[str, ...]] = ("env", "lake_root", "opensearch_url")

    opensearch_url: str | None = None
    #: The embedded index's file (local only); None puts it under the lake root.
    search_path: str | None = None

    def _problems(self) -> list[str]:
        problems = super()._problems()
        if self.deployed and self.opensearch_url and not self.opensearch_url.startswith("https://"):
            problems.append(f"{variable('opensearch_url')} must be an https:// URL in a deployed function")
        return problems


class CountersSettings(RuntimeSettings):
    """The counters consumer: the counters table of the environment."""

    deployable: ClassVar[str] = "the counters consumer"


class ArchiverSettings(RuntimeSettings):
    """The archiver: raw events under the lake root."""

    deployable: ClassVar[str] = "the archiver"


class OperatorSettings(CacheSettings, SearchSettings):
    """What the command line and the operations read: every store, and the AWS profile.

    Never deployed as a function, so no field is required beyond the environment.
    """

    deployable: ClassVar[str] = "the command line"
    required_when_deployed: ClassVar[tuple[str, ...]] = ()

    profile: str | None = Field(default=None, validation_alias=AliasChoices("AUXEIRA_PROFILE", "AWS_PROFILE"))
    #: Where the environment lives: ``local`` (the emulator stack on this machine) or
    #: ``aws``; by default environment ``local`` is on the local stack and any other on AWS.
    stack: Literal["local", "aws"] | None = None
    #: Where the event source mappings write their on-failure records: ``s3://<bucket>``
    #: (the stack output ``FailuresRoot``; Lambda writes at a bucket's root, so they cannot
    #: share the lake's prefix). None: the lake's ``failures/`` (the local runner's twin).
    failures_root: str | None = None

    def _problems(self) -> list[str]:
        return []


#: The settings most code reads (every store's location); kept under its old name.
PipelineSettings = OperatorSettings


def variable(field: str) -> str:
    """The environment variable of a settings field (``lake_root`` -> ``AUXEIRA_LAKE_ROOT``)."""
    return f"{_PREFIX}{field.upper()}"


def load(cls: type[RuntimeSettings], **overrides: Any) -> Any:
    """Settings of one deployable, or :class:`SettingsError` naming every bad variable.

    Args:
        overrides: values that win over the environment (command-line options).
    """
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{variable(field)}: {message}" if field else message)
        raise SettingsError(f"invalid settings for {cls.deployable}: {'; '.join(problems)}") from None


def running_in_lambda() -> bool:
    """True inside a Lambda function: Lambda sets ``AWS_LAMBDA_FUNCTION_NAME`` in every
    function's environment (Lambda developer guide, "Defined runtime environment variables")."""
    return "AWS_LAMBDA_FUNCTION_NAME" in os.environ
