"""One factory for every client the pipeline opens: AWS, OpenSearch and Redis.

AWS clients get an explicit botocore ``Config``. Which retry budget a client gets
depends on who retries:

* :data:`SDK_RETRIES` (``standard`` mode, 3 attempts) for callers with no loop of
  their own (the repository, the dead-letter store, the operations' reads);
* :data:`CALLER_RETRIES` (one attempt) for callers that retry per record themselves
  (the Kinesis writer, the counters sink): botocore retrying the same request inside
  their loop would multiply the attempts (3 x 8 PutRecords attempts, each up to 20 s)
  and keep a throttled shard throttled.

Timeouts are short (2 s to connect, 10 s to read): a Lambda must fail a batch and let
the mapping redeliver long before its own timeout.

OpenSearch is signed with SigV4 (``Urllib3AWSV4SignerAuth``) when the URL is an Amazon
OpenSearch Service (``*.es.amazonaws.com``) or Serverless (``*.aoss.amazonaws.com``)
endpoint, with the function's own credentials; any other URL is used as it is (user
and password in the URL, or none). Redis takes TLS from a ``rediss://`` URL (what
ElastiCache in-transit encryption needs) and the AUTH token from the URL or from
``redis_auth_token``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from botocore.config import Config

__all__ = [
    "CALLER_RETRIES",
    "REDIS_CLIENT_OPTIONS",
    "SDK_RETRIES",
    "ClientFactory",
    "opensearch_service",
    "redis_client",
]

_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 10}
# total_max_attempts counts the first call too (botocore's max_attempts counts retries only).
SDK_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 3}, **_TIMEOUTS)
CALLER_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, **_TIMEOUTS)

_SERVICE_ENDPOINTS = {"dynamodb": "dynamodb", "dynamodbstreams": "dynamodb", "kinesis": "kinesis", "s3": "s3"}


@dataclass(frozen=True)
class ClientFactory:
    """Builds clients for one region and profile, or for a local stack's endpoints.

    Attributes:
        region: the region every AWS client signs for.
        profile: an AWS profile name (operators); None uses the default chain.
        endpoints: service (``dynamodb``, ``kinesis``, ``s3``) -> URL of a local stand-in.
        credentials: fixed ``(access key, secret key)`` for a local stack.
    """

    region: str
    profile: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    credentials: tuple[str, str] | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> ClientFactory:
        """The factory a settings object describes (its region, profile and endpoints)."""
        endpoints = {
            name: url
            for name, url in (
                ("dynamodb", settings.dynamodb_endpoint),
                ("kinesis", settings.kinesis_endpoint),
                ("s3", settings.s3_endpoint),
            )
            if url
        }
        return cls(region=settings.region, profile=getattr(settings, "profile", None), endpoints=endpoints)

    def session(self) -> Any:
        """A new boto3 session: sessions are not thread-safe to share, clients are."""
        import boto3

        return boto3.session.Session(profile_name=self.profile, region_name=self.region)

    def client(self, service: str, *, config: Config = SDK_RETRIES) -> Any:
        """A low-level boto3 client (``dynamodb``, ``dynamodbstreams``, ``kinesis``, ``s3``, ``glue``...)."""
        kwargs: dict[str, Any] = {"config": config}
        endpoint = self.endpoints.get(_SERVICE_ENDPOINTS.get(service, service))
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        if self.credentials:
            kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = self.credentials
        return self.session().client(service, **kwargs)

    def opensearch(self, url: str, *, timeout: float = 10.0) -> Any:
        """An ``opensearch-py`` client for ``url``, SigV4-signed for Amazon OpenSearch Service."""
        from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth, Urllib3HttpConnection

        options: dict[str, Any] = {
            "hosts": [url],
            "timeout": timeout,
            "max_retries": 1,
            "retry_on_timeout": True,
            "connection_class": Urllib3HttpConnection,
        }
        service = opensearch_service(url)
        if service is not None:
            credentials = self.session().get_credentials()
            options.update(
                http_auth=Urllib3AWSV4SignerAuth(credentials, self.region, service), use_ssl=True, verify_certs=True
            )
        return OpenSearch(**options)


def opensearch_service(url: str) -> str | None:
    """The SigV4 service name of an Amazon OpenSearch endpoint (``es`` or ``aoss``), else None."""
    host = urlsplit(url).hostname or ""
    if host.endswith(".es.amazonaws.com"):
        return "es"
    if host.endswith(".aoss.amazonaws.com"):
        return "aoss"
    return None


#: For a client built from a URL: fail within a second or so and let the stream redeliver,
#: rather than redis-py's default of 10 retries backing off up to 1 s each.
REDIS_CLIENT_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}


def redis_client(url: str, auth_token: str | None = None) -> Any:
    """A redis-py client: TLS for ``rediss://`` (ElastiCache in transit), AUTH from the URL or the token."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    options: dict[str, Any] = {**REDIS_CLIENT_OPTIONS, "retry": Retry(ExponentialBackoff(cap=0.1, base=0.01), 2)}
    if auth_token:
        options["password"] = auth_token
    return redis.Redis.from_url(url, **options)
