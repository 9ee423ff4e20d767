"""The worker supervisor (ems/supervise.py) restarts a worker whatever its exit code, with backoff."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time


def test_any_exit_is_restarted_with_backoff_and_a_stop_ends_the_supervisor() -> None:
    # A worker that exits at once with code 2 (argparse refuses the option): a crash, not a stop.
    script = (
        "import logging, sys; from ems.logs import setup_logging; from ems.supervise import supervise; "
        "setup_logging(); sys.exit(supervise(['worker', '--no-such-option']))"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), line) for line in proc.stderr))
    reader.start()
    deadline = time.monotonic() + 90
    while (
        sum("unrecognized arguments" in line for _, line in list(lines)) < 4 and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    asked = time.monotonic()
    proc.wait(timeout=30)
    assert time.monotonic() - asked < 10  # the stop does not wait out the backoff
    reader.join(timeout=10)
    err = "".join(line for _, line in lines)
    runs = [at for at, line in lines if "unrecognized arguments" in line]
    assert len(runs) >= 4, err[-3000:]
    # Restarted after ~1 s, ~2 s, ~4 s (plus the start of each, which varies with the machine's load:
    # 1 s quiet, 5 s seen under load, so gaps are compared with the backoff, not with each other);
    # restarting at once would give gaps of one start each (~1 s), under the third backoff.
    gaps = [b - a for a, b in zip(runs, runs[1:4], strict=False)]
    assert all(gap >= 0.9 * 2**i for i, gap in enumerate(gaps)), gaps
    assert "the worker exited with code 2; restarting in" in err  # said once per 10 s (ems/logs.py)
    # Stopped while waiting: the last worker's code (2); while a worker still exits: its SIGTERM's.
    assert proc.returncode in (2, 256 - signal.SIGTERM), proc.returncode
