"""The collector benchmark's timing: each setting applies during its run only, collections are counted."""

from __future__ import annotations

import gc

from ems.bench.gc_cost import timed

PYTHON_DEFAULT = gc.get_threshold()


def churn() -> int:
    """Enough live container allocations to start several collections at Python's thresholds."""
    kept = [[i] for i in range(20_000)]
    return len(kept)


def test_defaults_collect_and_the_tuned_thresholds_do_not() -> None:
    _, count, clock = timed("default", [50_000, 20, 50], churn)
    assert count == 20_000
    assert clock.counts[0] > 10 and clock.seconds > 0
    _, _, tuned = timed("freeze+threshold", [50_000, 20, 50], churn)
    assert tuned.counts == [0, 0, 0] and tuned.seconds == 0


def test_each_run_leaves_the_collector_as_it_found_it() -> None:
    for mode in ("freeze", "threshold", "freeze+threshold", "off"):
        timed(mode, [1_000, 5, 5], churn)
        assert gc.get_threshold() == PYTHON_DEFAULT
        assert gc.get_freeze_count() == 0
        assert gc.isenabled()
