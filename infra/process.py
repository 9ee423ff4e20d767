"""Supervision of throwaway server processes (Kafka, PostgreSQL, Redis) for tests and benchmarks.

Every server runs in its own process group (session) on loopback, with its data and log in a temporary
directory. Three layers make sure none outlives the Python process that started it:

* ``stop()``/``__exit__`` on the normal path;
* an ``atexit`` hook that stops whatever is still running when the interpreter exits;
* a tiny watchdog process, holding the read end of a pipe from this process: when this process dies
  for any reason (even SIGKILL), the pipe hits EOF and the watchdog kills the process groups it was
  told about and removes their temporary directories.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Self

_WATCHDOG = r"""
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups, dirs = set(), set()
for line in sys.stdin:
    op, _, arg = line.rstrip("\n").partition(" ")
    target = groups if op.endswith("pg") else dirs
    (target.add if op.startswith("add") else target.discard)(int(arg) if target is groups else arg)
def alive(pg):
    try:
        os.killpg(pg, 0)
        return True
    except OSError:
        return False
for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 2.0)):
    for pg in groups:
        try:
            os.killpg(pg, sig)
        except OSError:
            pass
    deadline = time.monotonic() + wait
    while any(alive(pg) for pg in groups) and time.monotonic() < deadline:
        time.sleep(0.1)
for d in dirs:
    shutil.rmtree(d, ignore_errors=True)
"""


class ServerStartError(RuntimeError):
    """A server did not become ready; the message ends with the tail of its log."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    """True while a non-zombie process is in process group ``pgid`` (Linux /proc; else ``killpg``)."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
            return True
        except OSError:
            return False
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


class _Watchdog:
    """Lazily started guardian process; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def send(self, op: str, arg: object) -> None:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", _WATCHDOG],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    start_new_session=True,
                )
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(f"{op} {arg}\n".encode())
                self._proc.stdin.flush()
            except OSError:
                pass


_watchdog = _Watchdog()
_live: set[ServerProcess] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        try:
            server.stop()
        except Exception as exc:  # noqa: BLE001 - best effort at interpreter exit
            print(f"ems.infra: failed to stop {server.name}: {exc}", file=sys.stderr)


class ServerProcess:
    """Base class: one server process in its own process group, with a log file in ``data_dir``.

    Subclasses implement :meth:`_command` and :meth:`_ready`, and may override :meth:`_prepare`
    (run once before the first launch) and :meth:`_after_ready`. If the port was chosen automatically
    and the server dies with "Address already in use", it is relaunched on fresh ports (twice at most).
    """

    name = "server"
    stop_signal = signal.SIGTERM
    start_timeout = 60.0

    def __init__(self, port: int | None = None, data_dir: str | os.PathLike[str] | None = None) -> None:
        self._auto_port = port is None
        self.port = port or free_port()
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix=f"ems-{self.name}-")).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._prepared = False
        if self._owns_dir:
            _watchdog.send("adddir", self.data_dir)
        with _live_lock:
            _live.add(self)

    # -- to implement ---------------------------------------------------------------------------
    def _prepare(self) -> None:
        """One-time setup before the first launch (config files, initdb, format...)."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _popen_kwargs(self) -> dict[str, object]:
        return {}

    def _ready(self) -> bool:
        """Probe once; True when clients can use the server."""
        raise NotImplementedError

    def _after_ready(self) -> None:
        """Runs once the server answers (e.g. create a database)."""

    def _repick_ports(self) -> None:
        self.port = free_port()

    # -- lifecycle ------------------------------------------------------------------------------
    def launch(self) -> None:
        """Spawn the process without waiting for it to be ready (see :meth:`wait_ready`)."""
        if self.proc is not None and self.proc.poll() is None:
            return
        if not self._prepared:
            self._prepare()
            self._prepared = True
        log: IO[bytes]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
                **self._popen_kwargs(),  # type: ignore[call-overload]
            )
        _watchdog.send("addpg", self.proc.pid)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until :meth:`_ready` succeeds; raise :class:`ServerStartError` with the log tail."""
        timeout = self.start_timeout if timeout is None else timeout
        deadline, retries = time.monotonic() + timeout, 2
        while True:
            assert self.proc is not None, "launch() first"
            if self.proc.poll() is not None:
                if self._auto_port and retries and "Address already in use" in self.log_tail(200):
                    retries -= 1
                    self._reap()
                    self._repick_ports()
                    self._prepared = False
                    self.launch()
                    continue
                raise ServerStartError(self._failure(f"exited with code {self.proc.returncode}"))
            if self._ready():
                break
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError(self._failure(f"not ready after {timeout:.0f}s"))
            time.sleep(0.1)
        self._after_ready()

    def start(self, timeout: float | None = None) -> Self:
        """Launch and wait until ready (on failure: stop and clean up, then raise). Returns ``self``."""
        try:
            self.launch()
            self.wait_ready(timeout)
        except BaseException:
            self.stop(timeout=5)
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group at once; the data directory is kept (``start()`` again)."""
        self._signal(signal.SIGKILL)
        self._reap()

    def stop(self, timeout: float = 20.0, cleanup: bool = True) -> None:
        """Stop gracefully (``stop_signal``), SIGKILL after ``timeout``; remove an owned temp dir."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal(self.stop_signal)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
        self._reap()
        if cleanup:
            with _live_lock:
                _live.discard(self)
            if self._owns_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                _watchdog.send("deldir", self.data_dir)

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def _reap(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait()
        # Other members of the group (e.g. postgres backends) must be gone too before forgetting it.
        deadline = time.monotonic() + 3
        while group_alive(self.proc.pid):
            if time.monotonic() > deadline:
                self._signal(signal.SIGKILL)
            time.sleep(0.05)
        _watchdog.send("delpg", self.proc.pid)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _failure(self, what: str) -> str:
        return f"{self.name} on port {self.port} {what}; log {self.log_path}:\n{self.log_tail()}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
