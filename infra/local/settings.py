"""Settings of the local emulator stack (DynamoDB Local, kinesis-mock, Redis).

Environment variable names of the stack appear here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LocalStackSettings"]


class LocalStackSettings(BaseSettings):
    """Where the local stack keeps its state and which ports it listens on.

    Every field can be set from ``AUXEIRA_<FIELD>`` (for example
    ``AUXEIRA_DYNAMODB_PORT=8001``), except :attr:`redis_url`, which reads the
    conventional ``REDIS_URL``.

    Attributes:
        state_dir: Logs, pid files, ``endpoints.json`` and kinesis-mock's persisted data.
        dynamodb_port: HTTP port of DynamoDB Local.
        kinesis_port: Plain-HTTP port of kinesis-mock (its TLS port is picked free).
        redis_url: An existing Redis to use instead of starting one. It is never
            started, stopped or flushed by the stack.
        redis_port: Port for the Redis the stack starts; 0 picks a free one.
        region: Region every client signs with.
        access_key: Access key every client signs with. DynamoDB Local keeps one
            database per access key and region (unless ``-sharedDb``), so all
            clients must agree on it to see the same tables.
        secret_key: Secret key paired with :attr:`access_key`.
        node_modules: Folder where ``npm ci`` installed the emulators.
    """

    model_config = SettingsConfigDict(
        env_prefix="AUXEIRA_",
        frozen=True,
        extra="ignore",
        # Lets tests pass ``redis_url=...`` although the env var is REDIS_URL.
        populate_by_name=True,
    )

    state_dir: Path = Path(".local")
    dynamodb_port: int = Field(default=8000, ge=1, le=65535)
    kinesis_port: int = Field(default=4568, ge=1, le=65535)
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    redis_port: int = Field(default=0, ge=0, le=65535)
    region: str = "us-east-1"
    access_key: str = "local"
    secret_key: str = "local"
    node_modules: Path = Path("node_modules")
