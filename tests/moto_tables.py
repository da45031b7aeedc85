"""Tables in moto's in-process DynamoDB, created from the specs, for the write-path unit tests."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.tables import create_table_request
from schemas.resources import HISTORY_TABLE
from schemas.tables import TableSpec

__all__ = ["moto_dynamodb", "serialized"]


@contextmanager
def moto_dynamodb(
    monkeypatch: pytest.MonkeyPatch, specs: Iterable[TableSpec], env: str, *, history: bool = False
) -> Iterator[Any]:
    """A low-level DynamoDB client on moto with these tables (and the history table) created.

    Fake credentials are set so that no test can reach a real account.
    """
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for spec in specs:
            client.create_table(**create_table_request(spec, env))
        if history:
            client.create_table(**create_table_request(HISTORY_TABLE, env))
        yield client


class _Serialized:
    """moto's in-process backend is not thread-safe (it deep-copies shared dicts), so calls
    from a writer's thread pool are serialized here; the pool's scheduling still runs."""

    def __init__(self, inner: Any):
        self._inner = inner
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


def serialized(client: Any) -> Any:
    """``client`` with its calls made one at a time, for code under test that uses threads."""
    return _Serialized(client)
