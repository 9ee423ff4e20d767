"""Periodic progress lines for long-running stages (what each did since start), for operators."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("ems.progress")


class StageProgress:
    """Counts what a stage processed and logs a line at most every `every` seconds."""

    def __init__(self, stage: str, every: float = 10.0) -> None:
        self.stage, self.every = stage, every
        self.records = 0
        self.batches = 0
        self._last = time.monotonic()

    def add(self, records: int) -> None:
        """Count one batch of `records` and log if it is time to."""
        self.records += records
        self.batches += 1
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.info("%s: %d records in %d batches so far", self.stage, self.records, self.batches)
