"""The base of every bulk stage and the loop that keeps it running through failures.

A stage's `run()` owns its clients (consumer, producer, database connection) and returns when
`stop()` is called. `keep_running(stage)` is what the worker runs: when `run()` raises, the failure
is classified (`streams.failures`), reported on the stage's status (paused: a server is away;
failing: anything else) and the stage is started again after a capped exponential backoff. A
restarted stage resumes from its checkpoint (committed offsets, projection checkpoints), so the
work of a failed batch is redone, never lost; the stages downstream absorb the redelivery. The
backoff starts over once a run made progress, so a flapping server does not push it to the cap.
"""

from __future__ import annotations

import asyncio
import logging

from ems.streams.failures import Backoff, Failure, classify, describe
from ems.streams.stage_status import StageStatus, stage_status

log = logging.getLogger(__name__)


class StrayCancellation(ConnectionError):
    """A CancelledError raised under a stage whose own task was not being cancelled (transient)."""


def _cancelled() -> bool:
    """Whether the current task has a pending cancellation request (a stop, not a library's)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Stage:
    """A long-running stage: `run()` until `stop()`; its status is published by the heartbeat."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status: StageStatus = stage_status(name)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask `run()` to finish its current batch and return."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        raise NotImplementedError


async def keep_running(stage: Stage, backoff: Backoff | None = None) -> None:
    """Run `stage` until it is stopped, restarting it with backoff whenever it fails."""
    backoff = backoff or Backoff()
    try:
        while not stage.stopping:
            await _run_once(stage, backoff)
    finally:
        if stage.stopping:
            stage.status.stopped()
        else:  # cancelled: whatever reads the status must not take the stage for alive
            stage.status.failing("the stage's task ended")


async def _run_once(stage: Stage, backoff: Backoff) -> None:
    """One run of the stage; a failure is reported on its status and followed by a backoff."""
    status = stage.status
    before = status.records
    try:
        try:
            await stage.run()
        except asyncio.CancelledError as exc:
            if _cancelled():
                raise
            # aiokafka lets a CancelledError of its own out of `getmany` when a consumer's session
            # expires during a broker outage: this task was not cancelled, the stage failed like
            # any other client call and must be started again, not abandoned.
            raise StrayCancellation("a Kafka client call was cancelled under the stage") from exc
        if not stage.stopping:
            raise RuntimeError("the stage returned without being stopped")
    except Exception as exc:
        if stage.stopping:
            return
        if status.records > before:
            backoff.reset()
        status.restarts += 1
        reason = describe(exc)
        if classify(exc) is Failure.TRANSIENT:
            status.paused(reason)
            log.warning("%s paused: %s; retrying with backoff", stage.name, reason)
        else:
            status.failing(reason)
            log.error("%s failed: %s; restarting with backoff", stage.name, reason, exc_info=exc)
        await backoff.sleep(stage._stopping)
