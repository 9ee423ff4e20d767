"""Start and stop `ems` child processes (demo, benchmark, tests) so none outlives its parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """`preexec_fn` for subprocess.Popen: the child gets `sig` when its parent dies (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def spawn_ems(args: Iterable[str], env: Mapping[str, str], log: Path) -> subprocess.Popen:
    """Run `python -m ems.cli *args` in its own process group, output appended to `log`.

    `-P`: the working directory is not put on `sys.path`, so a checkout's `ems/` folder there never
    shadows the installed package."""
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "ems.cli", *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


def stop_processes(procs: Iterable[subprocess.Popen], grace: float = 20.0) -> None:
    """SIGTERM each process group, then SIGKILL whatever is still alive after `grace` seconds."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
