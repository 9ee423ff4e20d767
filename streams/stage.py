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
    status = stage.status
    while not stage.stopping:
        before = status.records
        try:
            await stage.run()
            if stage.stopping:
                break
            raise RuntimeError("the stage returned without being stopped")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if stage.stopping:
                break
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
    status.stopped()
