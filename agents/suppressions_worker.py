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

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from ems.agents.suppressions import Suppressions
from ems.schemas.command import Command
from ems.schemas.suppression import DOMAINS, SuppressionBatch, SuppressionChanged
from ems.settings import Settings
from ems.streams.batch_stage import Batch, guarded
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.kafka import DeadLetters, read_to_end
from ems.streams.one_instance import OneInstanceStage

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


class SuppressionsWorker(OneInstanceStage):
    """Runs the suppression stage until `stop()`."""

    stage = "suppressions"
    keeps = "every silence and window"

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
        self._unpublished = 0

    def idle(self) -> None:
        self.state = None

    async def rebuild(self, assigned: set[TopicPartition]) -> str:
        """Step 1 on each assignment: the silences and windows from `ems.suppressions`."""
        state = Suppressions()
        batches = await read_batches(self.settings)
        state.restore(batches)
        for tp in sorted(assigned):
            await self.seek(tp, state.positions.get(f"commands:{tp.partition}"))
        self.state, self._unpublished = state, 0
        return f"{len(batches)} records: {len(state.silences)} silences, {len(state.windows)} windows"

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
            self.status.skipped += 1
            return None  # the command router dead-letters undecodable commands
        if command.domain not in DOMAINS:
            self.state.seen(source, msg.offset)
            return None
        outcome = self.state.apply(command, source, msg.offset)
        if outcome.refused:
            await dead.reject(outcome.refused, msg)
        return outcome.change
