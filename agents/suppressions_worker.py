"""The suppression stage on batched aiokafka: `silence.*` / `window.*` commands -> `ems.suppressions`.

It keeps the whole set of silences and maintenance windows, so ONE instance runs the stage (like the
ticket stage): it takes every partition of `ems.commands` and publishes to the single partition of
`ems.suppressions`, one `SuppressionBatch` per input batch (all or nothing), carrying the command
positions it includes. This module only moves records; the decisions are the pure core's
(agents/suppressions.py).

Protocol:
1. After every assignment, before anything is applied: the core's state is rebuilt from its own
   output (`ems.suppressions`, folded in order) and each command partition is sought to the position of
   the last record (the beginning when there is none); what was fetched before the seek is dropped.
2. Per batch: each `silence.*` / `window.*` command is applied (other domains only advance the
   positions); a refused one (a bad rule, an unknown or already ended target) is dead-lettered with
   the reason. The changes go out as one record.
3. A redelivered command (after a crash) is below the recorded position and skipped, so a restart
   repeats no change.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from ems.agents.suppressions import Suppressions
from ems.schemas.command import Command
from ems.schemas.suppression import DOMAINS, SuppressionBatch, SuppressionChanged
from ems.settings import Settings
from ems.streams.batch_stage import AssignmentNoted, Batch, BatchStage, guarded
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.kafka import DeadLetters, read_to_end

log = logging.getLogger(__name__)
POSITIONS_EVERY = 5000  # commands of other domains after which a record carries the positions alone


async def read_batches(settings: Settings) -> list[SuppressionBatch]:
    """Every suppression batch published so far, in order."""
    out: list[SuppressionBatch] = []
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("suppressions")):
        try:
            out.append(decode(msg.value, SuppressionBatch))
        except DecodeError as exc:  # not ours: the projection dead-letters it
            log.warning("suppressions: skipping an unreadable record at %d: %s", msg.offset, exc)
    return out


class SuppressionsWorker(BatchStage):
    """Runs the suppression stage until `stop()`."""

    stage = "suppressions"

    def __init__(self, settings: Settings) -> None:
        self.commands_topic = settings.topic("commands")
        self.suppressions_topic = settings.topic("suppressions")
        super().__init__(
            settings,
            self.commands_topic,
            f"{settings.app_id}-suppressions",
            settings.batch_max_records,
            fetch_max_wait_ms=50,  # operators wait on this hop (see assets_worker)
        )
        self.state: Suppressions | None = None
        self.assigned: set[TopicPartition] | None = None
        self._unpublished = 0
        self.rebuild_seconds = 0.0

    def listener(self) -> ConsumerRebalanceListener:
        return AssignmentNoted(self)  # rebuilt before the next batch (see assets_worker)

    async def before_batch(self) -> bool:
        """Step 1 when a rebalance asked for it; True: what was fetched before the seeks is dropped."""
        if self.assigned is None:
            return False
        assigned, self.assigned = self.assigned, None
        partitions = self.consumer.partitions_for_topic(self.commands_topic) or set()
        if {tp.partition for tp in assigned} != partitions:
            log.error(
                "suppressions: holds command partitions %s of %s; the suppression stage keeps every "
                "silence and window in one instance (run it in one worker only); idle until reassigned",
                sorted(tp.partition for tp in assigned),
                sorted(partitions),
            )
            self.state = None
            return True
        started = time.perf_counter()
        state = Suppressions()
        batches = await read_batches(self.settings)
        state.restore(batches)
        for tp in sorted(assigned):
            position = state.positions.get(f"commands:{tp.partition}")
            if position is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, position)
        self.state, self._unpublished = state, 0
        self.rebuild_seconds = time.perf_counter() - started
        log.info(
            "suppressions: state rebuilt from %d records: %d silences, %d windows in %.2f s",
            len(batches),
            len(state.silences),
            len(state.windows),
            self.rebuild_seconds,
        )
        return True

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        """Step 2: apply the batch's silence and window commands and publish their changes as one record."""
        if self.state is None:
            return
        changes: list[SuppressionChanged] = []
        for tp in sorted(batch, key=lambda tp: tp.partition):
            for msg in batch[tp]:
                change = await guarded(self.stage, msg, dead, lambda m=msg: self._apply(m, dead))
                if change is not None:
                    changes.append(change)
        self._unpublished += sum(len(m) for m in batch.values())
        if changes or self._unpublished >= POSITIONS_EVERY:
            record = self.state.batch(changes)
            await self.emit(
                producer, self.suppressions_topic, encode(record), key=record.key.encode(), partition=0
            )
            self._unpublished = 0

    async def _apply(self, msg: ConsumerRecord, dead: DeadLetters) -> SuppressionChanged | None:
        source = f"commands:{msg.partition}"
        try:
            command = decode(msg.value, Command)
        except DecodeError:
            self.state.seen(source, msg.offset)
            return None  # the command router dead-letters undecodable commands
        if command.domain not in DOMAINS:
            self.state.seen(source, msg.offset)
            return None
        outcome = self.state.apply(command, source, msg.offset)
        if outcome.refused:
            await dead.reject(outcome.refused, msg)
        return outcome.change
