"""Settings of the pipeline's deployables, read once from ``AUXEIRA_*`` variables.

Environment variable names appear nowhere else in the code: handlers, the local runner
and the CLI build one :class:`PipelineSettings` at their edge and pass values inward.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PipelineSettings"]


class PipelineSettings(BaseSettings):
    """Where the pipeline's resources are and how it treats them."""

    model_config = SettingsConfigDict(env_prefix="AUXEIRA_", frozen=True, extra="ignore")

    env: str = "local"
    region: str = "us-east-1"
    #: Endpoints of local stand-ins; None means the real AWS endpoint.
    dynamodb_endpoint: str | None = None
    kinesis_endpoint: str | None = None
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AUXEIRA_REDIS_URL", "REDIS_URL")
    )
    opensearch_url: str | None = None
    #: Local directory or ``s3://bucket/prefix``: raw events, dead letters, search state.
    lake_root: str = "lake"
    stream_name_template: str = "auxeira-events-{env}"
    checkpoint_table_template: str = "auxeira-checkpoints-{env}"
    #: How long a delete's tombstone outlives it in the cache (blocks late stale updates).
    tombstone_ttl_seconds: int = Field(default=7 * 86400, gt=0)

    @property
    def stream_name(self) -> str:
        return self.stream_name_template.format(env=self.env)

    @property
    def checkpoint_table(self) -> str:
        return self.checkpoint_table_template.format(env=self.env)
