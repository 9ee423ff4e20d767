"""The cyclic garbage collector of a long-running stream process, tuned from the settings.

A worker keeps a large heap alive for its whole life (every stage's modules, Faust, aiokafka, the
stages' in-memory state), and each batch it handles allocates thousands of objects that live until
the batch is done. With Python's thresholds a collection starts every 700 net allocations, walks the
batch's live objects again and again, and the older generations' collections walk the long-lived
heap too. `tune_gc` raises the thresholds (`EMS_GC_THRESHOLD`), so a batch's objects are freed by
reference counting before a collection runs, and moves what is alive at start-up into the
permanent generation (`EMS_GC_FREEZE`: `gc.freeze()`, never walked again). Figures: docs/performance.md.
"""

from __future__ import annotations

import gc
import logging

from ems.settings import Settings

log = logging.getLogger(__name__)


def tune_gc(settings: Settings) -> None:
    """Apply `EMS_GC_THRESHOLD` (unless empty) and `EMS_GC_FREEZE` to this process's collector; call
    it once start-up is done. With `[]` and `false` the collector is left as Python set it."""
    if settings.gc_threshold:
        gc.set_threshold(*settings.gc_threshold)
    if settings.gc_freeze:
        gc.collect()  # what start-up left as garbage is freed, not kept for ever
        gc.freeze()
    log.info("garbage collector: thresholds %s, %d objects frozen", gc.get_threshold(), gc.get_freeze_count())
