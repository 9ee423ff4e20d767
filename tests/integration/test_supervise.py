"""The worker supervisor (ems/supervise.py) restarts a worker whatever its exit code, with backoff."""

from __future__ import annotations

import signal
import subprocess
import sys
import time


def test_any_exit_is_restarted_with_backoff_and_a_stop_ends_the_supervisor() -> None:
    # A worker that exits at once with code 2 (argparse refuses the option): a crash, not a stop.
    script = (
        "import logging, sys; from ems.logs import setup_logging; from ems.supervise import supervise; "
        "setup_logging(); sys.exit(supervise(['worker', '--no-such-option']))"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    time.sleep(10)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    runs = err.count("unrecognized arguments: --no-such-option")
    # Restarted after ~1 s, ~2 s, ~4 s, ~8 s (plus ~0.6 s to start each): 3 or 4 runs in 10 s;
    # restarting at once would have made a dozen.
    assert 3 <= runs <= 4, err[-3000:]
    assert "the worker exited with code 2; restarting in" in err  # said once per 10 s (ems/logs.py)
    assert proc.returncode == 2  # the code of the last worker, once asked to stop
