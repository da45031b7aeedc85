"""Where a drill runs: a local stack, fresh environments on it, and the on-call commands as processes.

A :class:`Stage` is built by the integration tests from their session stack (``local_stack``,
``make_runtime``) and by ``bench.drills`` from a private stack of its own. A drill gets a
fresh environment (tables, stream, checkpoints, lake) from it, drives the pipeline
in-process, and runs the commands it kills as real ``auxeira`` processes
(:meth:`Stage.start`), pointed at that environment by the same variables an operator
would set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from auxeira.operations.environment import Environment
from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.runtime.local_pipeline import LocalPipeline
from infra.local import Endpoints, LocalStackSettings

__all__ = ["Proc", "Result", "Stage", "catch_up", "environment_of", "wait_for"]


def environment_of(runtime: LocalRuntime, redis_url: str | None = None) -> Environment:
    """The operations' view of a drill environment (what the command line builds from settings)."""
    url = redis_url or runtime.endpoints.redis_url
    return Environment(
        runtime.env, runtime.endpoints.client_factory(), runtime.lake_root, url, search_path=_search(runtime)
    )


def _search(runtime: LocalRuntime) -> str:
    return runtime.search_path or runtime.search_sink().path


def catch_up(runtime: LocalRuntime, timeout: float = 600.0, **sinks: Any) -> LocalPipeline:
    """The router and every consumer until nothing moves, then a clean stop (leases given up)."""
    pipeline = build_pipeline(runtime, **sinks)
    try:
        pipeline.run_until_caught_up(timeout=timeout)
    finally:
        pipeline.release()
    return pipeline


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.05) -> Any:
    """``check()``'s first truthy answer, polled every ``every`` seconds.

    Raises:
        TimeoutError: nothing truthy within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:g} s")


@dataclass
class Stage:
    """A running local stack and a factory of fresh environments on it.

    Attributes:
        endpoints, settings: the stack, as its clients and as ``auxeira`` finds it.
        make_runtime: a fresh environment with ``shard_count`` shards.
        workdir: a private folder (a drill's own redis-server keeps its log there).
    """

    endpoints: Endpoints
    settings: LocalStackSettings
    make_runtime: Callable[[int], LocalRuntime]
    workdir: Path

    def runtime(self, shards: int = 2) -> LocalRuntime:
        runtime = self.make_runtime(shards)
        runtime.search_path = _search(runtime)
        return runtime

    def variables(self, runtime: LocalRuntime, redis_url: str | None = None) -> dict[str, str]:
        """The settings that point ``auxeira`` at ``runtime`` on this stack (and at ``redis_url``)."""
        s = self.settings
        return {
            "AUXEIRA_STATE_DIR": str(s.state_dir),
            "AUXEIRA_DYNAMODB_PORT": str(s.dynamodb_port),
            "AUXEIRA_KINESIS_PORT": str(s.kinesis_port),
            "AUXEIRA_NODE_MODULES": str(s.node_modules),
            "AUXEIRA_ENV": runtime.env,
            "AUXEIRA_STACK": "local",
            "AUXEIRA_LAKE_ROOT": runtime.lake_root,
            "AUXEIRA_SEARCH_PATH": _search(runtime),
            "AUXEIRA_REDIS_URL": redis_url or runtime.endpoints.redis_url,
        }

    def start(self, runtime: LocalRuntime, *argv: str, redis_url: str | None = None) -> Proc:
        """``auxeira --json ARGV`` as a process of its own (to be killed, or waited for)."""
        return self.spawn(runtime, ["-m", "auxeira.cli.main", "--json", *argv], redis_url)

    def spawn(self, runtime: LocalRuntime, args: list[str], redis_url: str | None = None) -> Proc:
        """``python ARGS`` with the environment's settings (a shell's explicit endpoints dropped);
        stderr goes to a log file of the drill's folder, stdout is read as it comes."""
        dropped = ("AUXEIRA_DYNAMODB_ENDPOINT", "AUXEIRA_KINESIS_ENDPOINT", "AUXEIRA_OPENSEARCH_URL")
        inherited = {k: v for k, v in os.environ.items() if k not in dropped}
        log = self.workdir / f"{runtime.env}-{args[1]}-{time.monotonic_ns()}.log"
        with log.open("wb") as err:
            popen = subprocess.Popen(
                [sys.executable, *args],
                env={**inherited, **self.variables(runtime, redis_url)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=Path(__file__).resolve().parents[1],
            )
        return Proc(popen, log)

    def run(self, runtime: LocalRuntime, *argv: str, redis_url: str | None = None, timeout: float = 600.0) -> Result:
        """``auxeira --json ARGV`` to its end: its exit code and the JSON it printed."""
        return self.start(runtime, *argv, redis_url=redis_url).finish(timeout)


@dataclass(frozen=True)
class Result:
    """A finished command: exit code, its JSON document, its stderr."""

    code: int
    body: dict[str, Any]
    stderr: str


class Proc:
    """A started process whose stdout lines are collected by a thread (so it never blocks on a full pipe)."""

    def __init__(self, popen: subprocess.Popen[bytes], log: Path):
        self.popen, self.log = popen, log
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            self.lines.append(raw.decode(errors="replace"))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> int:
        """SIGKILL, as a crash or an OOM kill delivers it; returns the exit status (-9)."""
        os.kill(self.popen.pid, signal.SIGKILL)
        return self.popen.wait(timeout=30)

    def line(self, prefix: str, timeout: float = 60.0) -> dict[str, Any]:
        """The first stdout line that is a JSON object starting with key ``prefix``."""
        marker = '{"' + prefix + '"'

        def found() -> dict[str, Any] | None:
            for text in list(self.lines):
                if text.startswith(marker):
                    return orjson.loads(text)
            if not self.alive():
                raise RuntimeError(
                    f"exited {self.popen.returncode} before printing {prefix!r}: {self.stderr()[-2000:]}"
                )
            return None

        return wait_for(f"{prefix!r} from pid {self.pid}", found, timeout)

    def finish(self, timeout: float = 600.0) -> Result:
        code = self.popen.wait(timeout=timeout)
        self._reader.join(timeout=30)
        out = "".join(self.lines).strip()
        try:
            body = orjson.loads(out) if out else {}
        except orjson.JSONDecodeError:  # several lines (the drill runner): the last one
            body = orjson.loads(self.lines[-1])
        return Result(code, body, self.stderr())

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")
