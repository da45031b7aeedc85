"""Start, recognise and stop the background processes of the local stack.

A started process gets its own session (so a Ctrl-C in the caller's terminal
does not reach it), writes to ``state_dir/logs/NAME.log`` and is recorded in
``state_dir/pids/NAME.json``. A record is trusted only while the PID still shows
the recorded command line and start time: PIDs are reused, and killing a
stranger because a stale file named its PID is the one mistake this module
must never make.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from schemas.errors import PipelineError

__all__ = [
    "LocalStackError",
    "PortInUseError",
    "ProcessRecord",
    "StartupError",
    "ensure_port_free",
    "executable",
    "free_port",
    "is_running",
    "port_in_use",
    "read_record",
    "remove_record",
    "start_process",
    "state_lock",
    "stop_process",
    "wait_until",
]

# Popen objects of the children this interpreter started, kept so that a
# stopped child is reaped (a zombie would otherwise linger in /proc) and so
# that Popen.__del__ does not warn about a child that is meant to outlive us.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class LocalStackError(PipelineError):
    """The local emulator stack could not do what was asked."""


class PortInUseError(LocalStackError):
    """A port the stack must listen on is held by a process the stack did not start."""

    def __init__(self, service: str, port: int, setting: str):
        self.service = service
        self.port = port
        self.setting = setting
        super().__init__(
            f"cannot start {service}: port {port} is already in use by another process; "
            f"stop that process or choose another port with {setting}"
        )


class StartupError(LocalStackError):
    """A service exited, or did not answer in time, while starting."""


@dataclass(frozen=True)
class ProcessRecord:
    """What ``pids/NAME.json`` holds about one started process.

    Attributes:
        name: Service name, also the pid file's and log file's stem.
        pid: PID of the server itself (java, node, redis-server), never a shell's.
        port: The port clients connect to.
        cmdline: The argv it was started with, as ``/proc/PID/cmdline`` shows it.
        start_ticks: Start time in clock ticks after boot (``/proc/PID/stat`` field 22);
            with the PID, it names one process for the lifetime of the machine.
        log_path: Where its stdout and stderr go.
        extra: Other facts worth keeping (for example kinesis-mock's TLS port).
    """

    name: str
    pid: int
    port: int
    cmdline: tuple[str, ...]
    start_ticks: int | None
    log_path: str
    extra: dict[str, object] = field(default_factory=dict)


def _pid_path(state_dir: Path, name: str) -> Path:
    return state_dir / "pids" / f"{name}.json"


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """Return (state, start ticks) of a PID, or None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _proc_cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0")[:-1])


def start_process(
    name: str,
    argv: Sequence[str],
    *,
    state_dir: Path,
    port: int,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> ProcessRecord:
    """Start ``argv`` detached from the caller and write its record to ``pids/NAME.json``.

    No shell in between, so the recorded PID is the server's own. ``argv[0]``
    should be absolute: it is compared with ``/proc/PID/cmdline`` later.
    """
    log_path = state_dir / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {list(argv)}\n".encode())
        log.flush()
        # Popen returns only once exec() has succeeded, so /proc already shows argv.
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    stat = _proc_stat(proc.pid)
    record = ProcessRecord(
        name, proc.pid, port, tuple(argv), stat[1] if stat else None, str(log_path), dict(extra or {})
    )
    _write_record(state_dir, record)
    return record


def _write_record(state_dir: Path, record: ProcessRecord) -> None:
    path = _pid_path(state_dir, record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2))
    os.replace(tmp, path)  # atomic: a reader never sees half a record


def read_record(state_dir: Path, name: str) -> ProcessRecord | None:
    """Read ``pids/NAME.json``; None if absent or unreadable."""
    try:
        data = json.loads(_pid_path(state_dir, name).read_text())
        data["cmdline"] = tuple(data["cmdline"])
        return ProcessRecord(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def remove_record(state_dir: Path, name: str) -> None:
    """Delete ``pids/NAME.json`` if it exists."""
    _pid_path(state_dir, name).unlink(missing_ok=True)


def is_running(record: ProcessRecord) -> bool:
    """Whether the recorded process is alive and is still the one we started.

    A PID whose command line or start time differs from the record belongs to
    someone else (the PID was reused) and counts as not running.
    """
    child = _CHILDREN.get(record.pid)
    if child is not None and child.poll() is not None:  # reaps our own zombie
        return False
    stat = _proc_stat(record.pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    if record.start_ticks is not None and stat[1] != record.start_ticks:
        return False
    return _proc_cmdline(record.pid) == tuple(record.cmdline)


def stop_process(record: ProcessRecord, timeout: float = 10.0) -> bool:
    """Stop the recorded process: SIGTERM, wait up to ``timeout``, then SIGKILL.

    Returns:
        True if it was running and has been stopped; False if it was not ours
        or already gone (nothing is signalled then).
    """
    if not is_running(record):
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_running(record):
                _CHILDREN.pop(record.pid, None)
                return True
            time.sleep(0.05)
    raise LocalStackError(f"{record.name} (pid {record.pid}) survived SIGKILL")


def free_port() -> int:
    """Ask the kernel for a TCP port that is free right now (it may be taken later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something listens on ``port``.

    Binds the way the servers do (all interfaces, SO_REUSEADDR), so sockets in
    TIME_WAIT left by a previous run do not count as "in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return True
    return False


def ensure_port_free(service: str, port: int, setting: str) -> None:
    """Raise :class:`PortInUseError` naming ``setting`` if ``port`` is taken."""
    if port_in_use(port):
        raise PortInUseError(service, port, setting)


def executable(program: str) -> str:
    """Absolute path of ``program``: what ``/proc/PID/cmdline`` will show as argv[0]."""
    path = shutil.which(program)
    if path is None:
        raise LocalStackError(f"{program} not found on PATH (needed by the local stack)")
    return path


def _log_tail(log_path: str, lines: int = 15) -> str:
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    probe: Callable[[], object],
    *,
    what: str,
    timeout: float,
    record: ProcessRecord | None = None,
    log_path: str | None = None,
) -> float:
    """Call ``probe`` until it returns without raising, and return the seconds it took.

    Args:
        probe: A health check; any exception means "not yet".
        what: Service name used in the error message.
        timeout: Seconds to keep trying.
        record: If given, give up as soon as that process has exited.
        log_path: Log file named in the error (defaults to the record's).

    Raises:
        StartupError: The process exited, or the probe never succeeded; the
            message ends with the log's last lines.
    """
    log_path = log_path or (record.log_path if record else None)
    started = time.monotonic()
    last_error: Exception | None = None
    while True:
        try:
            probe()
            return time.monotonic() - started
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = exc
        if record is not None and not is_running(record):
            reason = f"{what} (pid {record.pid}) exited during start-up"
            break
        if time.monotonic() - started > timeout:
            reason = f"{what} did not answer within {timeout:.0f}s (last error: {last_error!r})"
            break
        time.sleep(0.1)
    if log_path is None:
        raise StartupError(reason)
    raise StartupError(f"{reason}; see {log_path}. Last lines:\n{_log_tail(log_path)}")


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``state_dir``: two ``up()``/``down()`` never interleave."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
