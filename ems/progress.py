"""What each stage processed: periodic log lines for operators and Prometheus counters."""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter

log = logging.getLogger("ems.progress")

RECORDS = Counter("ems_stage_records", "Records processed, by stage (events for dedupe)", ["stage"])
BATCHES = Counter("ems_stage_batches", "Batches processed, by stage", ["stage"])
DEAD_LETTERS = Counter("ems_stage_dead_letters", "Records dead-lettered, by stage", ["stage"])


class StageProgress:
    """Counts what a stage processed and logs a line at most every `every` seconds."""

    def __init__(self, stage: str, every: float = 10.0) -> None:
        self.stage, self.every = stage, every
        self.records = 0
        self.batches = 0
        self._last = time.monotonic()
        self._records, self._batches = RECORDS.labels(stage), BATCHES.labels(stage)

    def add(self, records: int) -> None:
        """Count one batch of `records` and log if it is time to."""
        self.records += records
        self.batches += 1
        self._records.inc(records)
        self._batches.inc()
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.info("%s: %d records in %d batches so far", self.stage, self.records, self.batches)
