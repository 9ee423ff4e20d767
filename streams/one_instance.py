"""The shell of a stage whose state needs every partition of its inputs in one process (correlate,
tickets, suppressions, heartbeats, notify): on each assignment it checks that it holds them all,
rebuilds its state from its own output topic and seeks its inputs to the positions recorded there.

An instance holding only some partitions (a second worker running the stage) logs why and idles
until the next rebalance, so two instances never decide for the same input. The rebuild runs in the
consume loop (`on_assign`), not in the rebalance listener: aiokafka may hand out records fetched
while a listener runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from aiokafka import TopicPartition

from ems.settings import Settings
from ems.streams.batch_stage import BatchStage

log = logging.getLogger(__name__)


class OneInstanceStage(BatchStage):
    """Subclasses set `keeps` (what the one instance keeps, for the log), implement `rebuild` (return
    a summary for the log) and `idle` (drop the state), and may narrow `whole_topics`."""

    keeps = ""

    def __init__(
        self,
        settings: Settings,
        topics: str | tuple[str, ...],
        group: str,
        max_records: int,
        **consumer_options: object,
    ) -> None:
        super().__init__(settings, topics, group, max_records, **consumer_options)
        self.rebuild_seconds = 0.0

    def whole_topics(self) -> Iterable[str]:
        """The inputs whose every partition this instance must hold (default: all of them)."""
        return self.topics

    async def rebuild(self, assigned: set[TopicPartition]) -> str:
        raise NotImplementedError

    def idle(self) -> None:
        raise NotImplementedError

    async def on_assign(self, assigned: set[TopicPartition]) -> bool:
        """The rebuild; True: what was fetched before the seeks is dropped."""
        topics = set(self.whole_topics())
        wanted = {
            TopicPartition(topic, p)
            for topic in topics
            for p in self.consumer.partitions_for_topic(topic) or set()
        }
        held = {tp for tp in assigned if tp.topic in topics}
        if held != wanted:
            log.error(
                "%s: holds partitions %s of %s; the stage keeps %s in one instance (run it in one "
                "worker only); idle until reassigned",
                self.stage,
                sorted(held),
                sorted(wanted),
                self.keeps,
            )
            self.idle()
            return True
        started = time.perf_counter()
        summary = await self.rebuild(assigned)
        self.rebuild_seconds = time.perf_counter() - started
        log.info("%s: state rebuilt: %s in %.2f s", self.stage, summary, self.rebuild_seconds)
        return True

    async def seek(self, tp: TopicPartition, position: int | None) -> None:
        """Read `tp` from `position`, or from its beginning when none was recorded."""
        if position is None:
            await self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, position)
