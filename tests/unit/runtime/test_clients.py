"""The client factory: explicit botocore retry budgets that never multiply with our own loops,
SigV4 for Amazon OpenSearch Service, TLS and AUTH for ElastiCache."""

from __future__ import annotations

import pytest

from auxeira.runtime.clients import CALLER_RETRIES, SDK_RETRIES, ClientFactory, opensearch_service, redis_client


def test_callers_that_retry_per_record_get_one_botocore_attempt_and_the_others_three(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    factory = ClientFactory(region="us-east-1")
    caller = factory.client("kinesis", config=CALLER_RETRIES).meta.config
    sdk = factory.client("dynamodb", config=SDK_RETRIES).meta.config
    assert caller.retries == {"mode": "standard", "total_max_attempts": 1}
    assert sdk.retries == {"mode": "standard", "total_max_attempts": 3}
    for config in (caller, sdk):
        assert config.connect_timeout == 2 and config.read_timeout == 10


def test_a_client_carries_its_config_its_region_and_the_local_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    factory = ClientFactory(region="eu-west-1", endpoints={"kinesis": "http://127.0.0.1:4568"})
    kinesis = factory.client("kinesis", config=CALLER_RETRIES)
    assert kinesis.meta.region_name == "eu-west-1"
    assert kinesis.meta.endpoint_url == "http://127.0.0.1:4568"
    assert kinesis.meta.config.retries["total_max_attempts"] == 1
    assert factory.client("dynamodb").meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"


def test_the_deployed_router_and_counters_retry_per_record_on_one_attempt_clients(monkeypatch):
    from unittest.mock import MagicMock

    from auxeira.runtime.settings import CountersSettings, RouterSettings, load
    from consumers.handlers import counters
    from producers.handlers import router

    built: list[tuple[str, object]] = []

    def client(self, service, *, config=SDK_RETRIES):
        built.append((service, config))
        return MagicMock()

    monkeypatch.setattr(ClientFactory, "client", client)
    router._from_settings(load(RouterSettings))
    counters._from_settings(load(CountersSettings))
    assert ("kinesis", CALLER_RETRIES) in built and ("dynamodb", CALLER_RETRIES) in built
    assert ("s3", SDK_RETRIES) in built  # the dead-letter store has no loop of its own


@pytest.mark.parametrize(
    "url, service",
    [
        ("https://search-auxeira-prod-abc.eu-west-1.es.amazonaws.com", "es"),
        ("https://abc123.eu-west-1.aoss.amazonaws.com", "aoss"),
        ("https://user:pass@search.internal:9200", None),
        ("http://localhost:9200", None),
    ],
)
def test_amazon_opensearch_endpoints_are_signed_with_sigv4(url, service):
    assert opensearch_service(url) == service


def test_an_amazon_opensearch_client_signs_requests_with_the_functions_credentials(monkeypatch):
    from opensearchpy import Urllib3AWSV4SignerAuth

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    client = ClientFactory(region="eu-west-1").opensearch("https://search-x.eu-west-1.es.amazonaws.com")
    [connection] = client.transport.connection_pool.connections
    assert isinstance(
        connection.session.auth if hasattr(connection, "session") else connection.http_auth, Urllib3AWSV4SignerAuth
    )
    assert connection.use_ssl


def test_redis_takes_tls_from_rediss_and_the_auth_token():
    client = redis_client("rediss://cache.example:6379/0", auth_token="s3cret")
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert kwargs["password"] == "s3cret" and kwargs["socket_connect_timeout"] == 2.0
