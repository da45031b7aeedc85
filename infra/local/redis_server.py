"""Start and stop a throwaway redis-server for tests (never the shared one on 6379)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RedisProcess", "free_port", "start_redis", "stop_redis"]


@dataclass(frozen=True)
class RedisProcess:
    """A redis-server this test session started."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(directory: Path, *, attempts: int = 3, timeout: float = 10.0) -> RedisProcess:
    """Start ``redis-server`` on a free port with no persistence, and wait for PONG.

    Another process may take the free port before the server binds it, so a server
    that exits while starting is retried on a new port.

    Raises:
        FileNotFoundError: no redis-server on PATH.
        RuntimeError: it did not answer after ``attempts`` tries.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not on PATH")
    for _ in range(attempts):
        port = free_port()
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ]
        log = (directory / f"redis-{port}.log").open("wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory)
        log.close()  # the child holds its own descriptor
        if _wait_for_pong(proc, port, timeout):
            return RedisProcess(proc, port)
        stop_redis(RedisProcess(proc, port))
    raise RuntimeError(f"redis-server did not start; see logs in {directory}")


def stop_redis(server: RedisProcess, timeout: float = 5.0) -> None:
    """Stop a server this module started: SIGTERM, then SIGKILL, and reap it."""
    proc = server.process
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _wait_for_pong(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False
