"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from infra.local.redis_server import start_redis, stop_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis for tests.

    ``REDIS_URL`` when set: that server may be shared, so a test touches only keys
    under a unique prefix and deletes them afterwards. Otherwise a private
    redis-server on a free port, stopped at the end of the session.
    """
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    try:
        server = start_redis(tmp_path_factory.mktemp("redis"))
    except FileNotFoundError:
        pytest.skip("no redis-server binary and no REDIS_URL")
    try:
        yield server.url
    finally:
        stop_redis(server)
