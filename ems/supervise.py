"""Keeps a worker process running: restarts it whenever it exits without being asked to stop.

The worker never exits on its own: its stages wait out unreachable servers and restart themselves
(`ems.streams.stage`). So any exit is unexpected — a crash, the kernel's OOM killer, a `kill -9`,
or the Faust stall guard asking for a restart (`EXIT_RESTART`) — and the supervisor starts the
worker again after a backoff (1 s, 2 s, 4 s … 60 s; back to 1 s once a run lasted a minute). When
it had to restart the worker `CRASH_LOOP` times within `window` seconds it logs a crash loop at
ERROR level, and the worker reports it in its heartbeats (`/health` shows the stages failing) via
two variables in its environment: `EMS_SUPERVISED_RESTARTS` (restarts within the window) and
`EMS_SUPERVISED_LAST_EXIT` (the previous exit code). SIGINT and SIGTERM are passed on to the
worker, which stops cleanly (or is killed after `STOP_GRACE` seconds, e.g. when its servers are gone
and its own shutdown hangs), and then the supervisor exits with the worker's code.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from ems.process_group import die_with_parent
from ems.streams.failures import Backoff

log = logging.getLogger(__name__)
CRASH_LOOP = 5
STABLE_RUN = 60.0  # a run this long resets the backoff
STOP_GRACE = 30.0  # a worker asked to stop is killed if it has not exited this long after


def supervise(argv: Sequence[str], window: float = 600.0) -> int:
    """Run `python -m ems.cli *argv` until it is asked to stop; restart it whenever it exits."""
    restarts: list[float] = []
    child: subprocess.Popen | None = None
    stopping = False
    backoff = Backoff(initial=1.0, cap=60.0)
    last_exit: int | None = None

    stopped_at: float | None = None

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping, stopped_at
        stopping = True
        stopped_at = stopped_at or time.monotonic()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        env = {
            **os.environ,
            "EMS_SUPERVISED_RESTARTS": str(len(restarts)),
            "EMS_SUPERVISED_LAST_EXIT": "" if last_exit is None else str(last_exit),
        }
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-P", "-m", "ems.cli", *argv], env=env, preexec_fn=die_with_parent
        )
        code = _wait(child, lambda: stopped_at)
        if stopping:
            return code
        now = time.monotonic()
        if now - started >= STABLE_RUN:
            backoff.reset()
        restarts = [t for t in restarts if now - t < window] + [now]
        last_exit = code
        delay = backoff.next_delay()
        if len(restarts) >= CRASH_LOOP:
            log.error(
                "crash loop: the worker exited %d times in the last %.0f s (last exit code %d); "
                "restarting in %.0f s",
                len(restarts),
                window,
                code,
                delay,
            )
        else:
            log.warning("the worker exited with code %d; restarting in %.1f s", code, delay)
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return code


def _wait(child: subprocess.Popen, stopped_at: Callable[[], float | None]) -> int:
    """The child's exit code; once a stop was asked for, SIGKILL it after STOP_GRACE seconds (a worker
    whose servers are gone can hang in its own shutdown)."""
    while True:
        try:
            return child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            since = stopped_at()
            if since is not None and time.monotonic() - since > STOP_GRACE:
                log.error("the worker did not stop within %.0f s of being asked; killing it", STOP_GRACE)
                child.kill()
