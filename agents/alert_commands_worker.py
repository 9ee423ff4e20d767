"""Bulk stages feeding the lifecycle stage: the alert command router and the clock ticker.

The router consumes `ems.commands` (aiokafka batches), keeps the `alert.*` commands (other domains
belong to other consumers), checks their action and arguments, and forwards each to the `ems.events`
partition of its fingerprint as an AlertCommand stamped with its `ems.commands` position; bad ones
are dead-lettered with the reason. The ticker appends a Tick to every `ems.events` partition each
`tick_interval` seconds, so timers of quiet alerts fire (tests set 0 and send ticks themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer

from ems.schemas.alert_command import AlertCommand, BadCommand, Tick, parse_args
from ems.schemas.command import Command
from ems.settings import Settings
from ems.streams.batch_stage import Batch, BatchStage, guarded
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.kafka import DeadLetters, close_quietly, make_producer, settle
from ems.streams.partitioning import partition_for
from ems.streams.stage import Stage

log = logging.getLogger(__name__)


class CommandRouter(BatchStage):
    """`ems.commands` -> AlertCommand records on `ems.events`, at-least-once (redeliveries are skipped
    downstream by their position)."""

    stage = "alert-commands"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.topic("commands"), f"{settings.app_id}-alert-commands", 1000)
        self.events_topic = settings.topic("events")
        self.forwarded = self.ignored = 0

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        """Check each command and forward the alert ones to their fingerprint's partition."""
        partitions = len(await producer.partitions_for(self.events_topic))
        for messages in batch.values():
            for msg in messages:
                forward = await guarded(self.stage, msg, dead, lambda m=msg: self._check(m, dead))
                if forward is not None:
                    part = partition_for(forward.fingerprint.encode(), partitions)
                    await self.emit(producer, self.events_topic, encode(forward), partition=part)
                    self.forwarded += 1

    async def _check(self, msg, dead: DeadLetters) -> AlertCommand | None:
        try:
            command = decode(msg.value, Command)
        except DecodeError as exc:
            await dead.reject(str(exc), msg)
            return None
        if command.domain != "alert":
            self.ignored += 1  # another domain's command (assets): its own consumer takes it
            return None
        try:
            parse_args(command.name.split(".", 1)[1], command.args)
        except BadCommand as exc:
            await dead.reject(str(exc), msg)
            return None
        return AlertCommand(
            event_id=f"cmd-{command.event_id}",
            occurred_at=command.occurred_at,
            command=command,
            fingerprint=command.target,
            source_partition=msg.partition,
            source_offset=msg.offset,
        )


class Ticker(Stage):
    """Appends the wall clock as a Tick to every `ems.events` partition, every `tick_interval` s."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("ticker")
        self.settings = settings
        self.events_topic = settings.topic("events")

    async def run(self) -> None:
        producer = make_producer(self.settings)
        sent: list[asyncio.Future] = []
        try:
            await producer.start()
            self.status.running()
            while not self.stopping:
                parts = sorted(await producer.partitions_for(self.events_topic))
                for part in parts:
                    tick = encode(Tick(partition=part))
                    sent.append(await producer.send(self.events_topic, value=tick, partition=part))
                await producer.flush()
                await settle(sent)
                self.status.progress(len(parts))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.tick_interval)
        finally:
            await close_quietly(producer)
