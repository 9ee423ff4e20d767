"""The Faust side of the stall and gap guards (pure logic in `streams.watchdog`).

`StreamGuard` is attached to one Faust agent's stream: call `check(batch)` first thing for every
batch (before anything of it is processed or acked) and the guard registers a timer on the app
that watches the commits. Either finding ends the process with `EXIT_RESTART`, which the
supervisor turns into a restart from the committed offsets. Committed offsets are read from the
broker (OffsetFetch through a consumer of the group that never joins it), not from Faust's own
map, which is filled late and maps offset 0 to None.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from ems.streams.stage_status import total_lag
from ems.streams.watchdog import EXIT_RESTART, CommitStallWatchdog, OffsetContinuity

log = logging.getLogger(__name__)


def faust_lag(app: faust.App, processed: dict) -> int | None:
    """Records between what the agent processed and the ends of its assigned partitions."""
    return total_lag(
        (app.consumer.highwater(tp), processed[tp] + 1 if tp in processed else None)
        for tp in app.consumer.assignment()
    )


class StreamGuard:
    """Restarts the worker when Faust drops fetched events (a gap) or stops committing (a stall)."""

    def __init__(self, app: faust.App, name: str, stall_grace: float, bootstrap: str) -> None:
        self.app, self.name, self.bootstrap = app, name, bootstrap
        self.continuity = OffsetContinuity()
        self.watchdog = CommitStallWatchdog(grace=stall_grace)
        self.processed: dict = {}  # partition -> highest offset delivered to the agent
        self._assignment: set = set()
        self._offsets: AIOKafkaConsumer | None = None
        app.timer(5.0, name=f"{name}-commit-watch")(self._watch_commits)

    async def check(self, batch: Sequence[faust.EventT]) -> None:
        """Record the batch's offsets; exit for a restart if one was skipped."""
        current = set(self.app.consumer.assignment())
        if current != self._assignment:  # rebalanced: partitions restart at their committed offsets
            self._assignment = current
            self.continuity.reset()
        for ev in batch:
            tp, offset = ev.message.tp, ev.message.offset
            if not self.continuity.knows(tp):
                self.continuity.start(tp, await self._restart_offset(tp))
                log.info(
                    "%s: %s starts at offset %d (first delivered: %d)",
                    self.name,
                    tp,
                    self.continuity.expected[tp],
                    offset,
                )
            missing = self.continuity.check(tp, offset)
            if missing is not None:
                self._exit(
                    f"Faust delivered {tp} offset {offset} but never offset {missing}: it dropped "
                    "fetched events"
                )
            self.processed[tp] = max(self.processed.get(tp, -1), offset)

    async def _watch_commits(self) -> None:
        assigned = self.app.consumer.assignment()
        current = {tp: off for tp, off in self.processed.items() if tp in assigned}
        committed = await self._committed(list(current)) if current else {}
        stalled = self.watchdog.observe(committed, current, time.monotonic())
        if stalled:
            self._exit(f"offset commits stuck behind processing on {stalled} for {self.watchdog.grace:.0f} s")

    async def _committed(self, tps: list) -> dict:
        """The group's committed offsets as Kafka has them; None where nothing is committed."""
        if self._offsets is None:
            # Never subscribes, so it never joins the group: it only asks for its offsets.
            self._offsets = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=self.app.conf.id, enable_auto_commit=False
            )
            await self._offsets.start()
        out = {}
        for tp in tps:
            offset = await self._offsets.committed(TopicPartition(tp.topic, tp.partition))
            out[tp] = offset if offset is not None and offset >= 0 else None
        return out

    async def _restart_offset(self, tp) -> int:
        """Where Faust restarts `tp`: its committed offset, or the log start."""
        committed = (await self._committed([tp]))[tp]
        return committed if committed is not None else (await self.app.consumer.earliest_offsets(tp))[tp]

    def _exit(self, why: str) -> None:
        log.error(
            "%s: %s; exiting with %d before acking, so that the supervisor restarts the worker "
            "from the committed offsets",
            self.name,
            why,
            EXIT_RESTART,
        )
        os._exit(EXIT_RESTART)
