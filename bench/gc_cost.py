"""The cyclic garbage collector's share of the lifecycle stage, in process (`python -m ems.bench.gc_cost`).

No servers: the bench's observations are normalized into EventBatch records as the normalize stage
does, then folded by the lifecycle stage's `process_batch` in batches of `EMS_DEDUPE_BATCH_SIZE`
records, each batch's writes stored into an in-memory table as the Faust agent stores them. A first
pass builds the state (one alert per fingerprint); the timed passes fold the same records again over
it. The process has imported what a worker imports, so the collector walks a worker's heap.

Each collector setting is timed in turn, alternating (`--repeat` rounds), so all of them share the
machine's load; the figures are events folded per second and the time inside collections
(`gc.callbacks`), per setting.
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ems.agents.dedupe_batch import BatchConfig, process_batch
from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.timers import TimerIndex
from ems.bench.hops import build
from ems.settings import Settings

# Name -> (freeze after start-up, the tuned thresholds or Python's, collector enabled)
MODES: dict[str, tuple[bool, bool, bool]] = {
    "default": (False, False, True),
    "freeze": (True, False, True),
    "threshold": (False, True, True),
    "freeze+threshold": (True, True, True),
    "off": (False, False, False),
}


@dataclass
class GcClock:
    """Time spent inside collections, per generation, from `gc.callbacks`."""

    seconds: float = 0.0
    counts: list[int] = field(default_factory=lambda: [0, 0, 0])
    _start: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.counts[info["generation"]] += 1


def fold_all(
    records: list[Any], table: dict[bytes, bytes], timers: TimerIndex, config: BatchConfig, size: int
) -> int:
    """Fold `records` in batches of `size` records as the Faust agent does; events and commands read."""
    count = 0
    for i in range(0, len(records), size):
        done = process_batch(records[i : i + size], table, timers, config)
        table.update(done.writes)
        count += done.count
    return count


def timed(mode: str, tuned: list[int], fn: Callable[[], int]) -> tuple[float, int, GcClock]:
    """Run `fn` under the collector setting `mode` (`tuned`: its thresholds): (seconds, its count,
    collector time)."""
    freeze, threshold, enabled = MODES[mode]
    default_threshold = gc.get_threshold()
    gc.collect()
    if freeze:
        gc.freeze()
    if threshold and tuned:
        gc.set_threshold(*tuned)
    if not enabled:
        gc.disable()
    clock = GcClock()
    gc.callbacks.append(clock)
    try:
        start = time.perf_counter()
        count = fn()
        return time.perf_counter() - start, count, clock
    finally:
        gc.callbacks.remove(clock)
        gc.enable()
        gc.set_threshold(*default_threshold)
        gc.unfreeze()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.bench.gc_cost", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--observations", type=int, default=200_000)
    parser.add_argument("-a", "--assets", type=int, default=5_000, help="5 event names each: ~5x keys")
    parser.add_argument("--repeat", type=int, default=3, help="rounds over all modes, alternating")
    parser.add_argument(
        "--threshold", default=None, help="tuned thresholds, e.g. 50000,20,50 (default: EMS_GC_THRESHOLD)"
    )
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown mode(s): {', '.join(sorted(unknown))}")

    import ems.worker  # noqa: F401 - a worker's heap: every stage's modules, Faust, aiokafka

    settings = Settings()
    tuned = [int(t) for t in args.threshold.split(",")] if args.threshold else settings.gc_threshold
    data = build(args.observations, args.assets, settings)
    observations, records = len(data["raw"]), data["events"]
    del data  # the raw observations are not part of a worker's heap
    size = settings.dedupe_batch_size
    config = BatchConfig(LifecyclePolicy.of(settings), settings.partitions, settings.events_per_record)
    table: dict[bytes, bytes] = {}
    timers = TimerIndex()
    fold_all(records, table, timers, config, size)  # the state: one alert per fingerprint
    gc.collect()
    print(
        f"# {observations} observations in {len(records)} EventBatch records, {len(table)} alerts in "
        f"the state, batches of {size} records; {len(gc.get_objects())} objects tracked by the collector "
        f"after start-up; default thresholds {gc.get_threshold()}, tuned {tuple(tuned)}"
    )
    results: dict[str, list[tuple[float, int, GcClock]]] = {m: [] for m in modes}
    for _ in range(args.repeat):
        for mode in modes:
            fold = functools.partial(fold_all, records, dict(table), timers, config, size)
            results[mode].append(timed(mode, tuned, fold))
    base = statistics.median(n / s for s, n, _ in results[modes[0]])
    head = f"{'mode':<17} {'events/s median':>15} {'best':>7} {'vs ' + modes[0]:>10} {'in gc':>6}"
    print(f"{head}  collections gen0/1/2")
    for mode, runs in results.items():
        rate = statistics.median(n / s for s, n, _ in runs)
        top = max(n / s for s, n, _ in runs)
        share = statistics.median(c.seconds / s for s, _, c in runs)
        counts = "/".join(str(round(statistics.median(c.counts[g] for _, _, c in runs))) for g in range(3))
        print(f"{mode:<17} {rate:>15,.0f} {top:>7,.0f} {rate / base:>10.2f} {share:>6.1%}  {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
