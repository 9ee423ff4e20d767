"""Keeps a worker process running: restarts it when it exits asking for a restart.

A worker exits with `EXIT_RESTART` when it detects that Faust stalled (see `streams.watchdog`).
Any other exit code ends the supervisor with that code, so real crashes stay visible. SIGINT and
SIGTERM are passed on to the worker, which stops cleanly.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from ems.process_group import die_with_parent
from ems.streams.watchdog import EXIT_RESTART

log = logging.getLogger(__name__)


def supervise(argv: Sequence[str], max_restarts: int = 20, window: float = 600.0) -> int:
    """Run `python -m ems.cli *argv` until it exits with anything but EXIT_RESTART."""
    restarts: list[float] = []
    child: subprocess.Popen | None = None
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        child = subprocess.Popen([sys.executable, "-m", "ems.cli", *argv], preexec_fn=die_with_parent)
        code = child.wait()
        if stopping or code != EXIT_RESTART:
            return code
        now = time.monotonic()
        restarts = [t for t in restarts if now - t < window] + [now]
        if len(restarts) > max_restarts:
            log.error("worker asked for %d restarts within %.0f s; giving up", len(restarts), window)
            return code
        log.warning("worker asked for a restart (exit %d); restarting", code)
        time.sleep(1.0)
