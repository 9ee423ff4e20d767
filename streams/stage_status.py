"""What each stage of this process is doing, for its heartbeat and for `/health`.

A stage updates its `StageStatus` as it goes (running, paused on a transient failure with the
reason, failing, its progress and its consumer lag); `streams.heartbeat` publishes every status of
the process to Redis every few seconds, and the API judges the pipeline from them
(`ems.api.health`). Times are wall-clock seconds since the epoch: the judge runs in another process.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

RUNNING, STARTING, PAUSED, FAILING, STOPPED = "running", "starting", "paused", "failing", "stopped"
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"
PROCESS_STARTED = time.time()


@dataclass
class StageStatus:
    """The live status of one stage in this process."""

    stage: str
    state: str = STARTING
    reason: str | None = None
    since: float = field(default_factory=time.time)
    last_progress: float | None = None
    records: int = 0
    dead_letters: int = 0
    skipped: int = 0  # unreadable records of another stage's topic, left to the stage that letters them
    restarts: int = 0
    lag_source: Callable[[], int | None] | None = field(default=None, repr=False)

    def _move(self, state: str, reason: str | None) -> None:
        if state != self.state or reason != self.reason:
            self.state, self.reason, self.since = state, reason, time.time()

    def running(self) -> None:
        self._move(RUNNING, None)

    def paused(self, reason: str) -> None:
        """Waiting out a transient failure (a server away); retrying with backoff."""
        self._move(PAUSED, reason)

    def failing(self, reason: str) -> None:
        """Restarting after an unexpected failure (not the record's fault)."""
        self._move(FAILING, reason)

    def stopped(self) -> None:
        self._move(STOPPED, None)

    def progress(self, records: int) -> None:
        """A batch of `records` was processed (and the stage is running)."""
        self.records += records
        self.last_progress = time.time()
        if self.state != RUNNING:
            self.running()

    def lag(self) -> int | None:
        """Records waiting on the stage's input partitions (None when unknown)."""
        if self.lag_source is None:
            return None
        try:
            return self.lag_source()
        except Exception:  # noqa: BLE001 - a lag probe never breaks the heartbeat
            return None

    def snapshot(self, restarts_of_process: int = 0, last_exit: int | None = None) -> dict[str, Any]:
        """The heartbeat record of this stage."""
        return {
            "stage": self.stage,
            "instance": INSTANCE,
            "state": self.state,
            "reason": self.reason,
            "since": self.since,
            "last_progress": self.last_progress,
            "records": self.records,
            "dead_letters": self.dead_letters,
            "skipped": self.skipped,
            "restarts": self.restarts,
            "process_restarts": restarts_of_process,
            "process_started": PROCESS_STARTED,
            "last_exit": last_exit,
            "lag": self.lag(),
            "at": time.time(),
        }


def total_lag(ends_and_next: Iterable[tuple[int | None, int | None]]) -> int | None:
    """Records waiting: the sum of `end - next` over the partitions (highwater, next offset to
    process) where both are known; None when none is."""
    known = [(end, nxt) for end, nxt in ends_and_next if end is not None and nxt is not None]
    return sum(max(0, end - nxt) for end, nxt in known) if known else None


_REGISTRY: dict[str, StageStatus] = {}


def stage_status(stage: str) -> StageStatus:
    """The status of `stage` in this process (created on first use)."""
    status = _REGISTRY.get(stage)
    if status is None:
        status = _REGISTRY[stage] = StageStatus(stage)
    return status


def all_statuses() -> list[StageStatus]:
    """Every stage status of this process."""
    return list(_REGISTRY.values())
