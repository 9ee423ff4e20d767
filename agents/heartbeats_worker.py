"""The heartbeat stage on batched aiokafka: heartbeat observations on `ems.observations.raw` and the
clock on `ems.commands` -> `ems.heartbeats`, and `HeartbeatMissing` alert events back on the raw topic.

It keeps every origin's heartbeat, so ONE instance runs the stage (like the suppression stage): it
takes every partition of both inputs and publishes to the single partition of `ems.heartbeats`, one
`HeartbeatBatch` per input batch (all or nothing) with the input positions and the clock. This module
only moves records; the decisions are the pure core's (agents/heartbeats.py).

Protocol:
1. After every assignment, before anything is applied: the core's state is rebuilt from its own output
   (`ems.heartbeats`, folded in order) and each input partition is sought to the recorded position
   (the beginning when there is none); what was fetched before the seek is dropped.
2. Per record: a heartbeat observation is a beat, received at its Kafka timestamp (when the API or
   collector appended it); any command moves the clock to its event time (a `heartbeat.tick` is the
   clock alone); other observations only advance the positions. The alert events made are delivered
   before the batch that records the decisions, so a crash between the two makes them again with the
   same ids (applied once by the lifecycle stage).
3. A redelivered record is below the recorded position and skipped.

`HeartbeatTicker` appends a `heartbeat.tick` every `EMS_TICK_INTERVAL` s, so expiries happen while idle.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from ems.agents.command_ticker import CommandTicker, clock_command
from ems.agents.heartbeats import Beat, Monitor, Step
from ems.agents.normalize_worker import record_defaults
from ems.schemas.command import Command
from ems.schemas.heartbeat import HeartbeatBatch
from ems.schemas.limits import TIME_MAX, TIME_MIN
from ems.schemas.observation import HeartbeatBody, Observation
from ems.settings import Settings
from ems.streams.batch_stage import Batch, guarded
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.kafka import DeadLetters, read_to_end
from ems.streams.one_instance import OneInstanceStage

log = logging.getLogger(__name__)
POSITIONS_EVERY = 5000  # other records after which a batch carries the positions alone


async def read_batches(settings: Settings) -> list[HeartbeatBatch]:
    """Every heartbeat batch published so far, in order."""
    out: list[HeartbeatBatch] = []
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("heartbeats")):
        try:
            out.append(decode(msg.value, HeartbeatBatch))
        except DecodeError as exc:  # not ours: the projection dead-letters it
            log.warning("heartbeats: skipping an unreadable record at %d: %s", msg.offset, exc)
    return out


def received_at(msg: ConsumerRecord) -> datetime | None:
    """When the record was appended (its Kafka timestamp); None when it carries none we can use."""
    try:
        at = datetime.fromtimestamp(msg.timestamp / 1000, UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        return None
    return at if TIME_MIN <= at < TIME_MAX else None


class HeartbeatsWorker(OneInstanceStage):
    """Runs the heartbeat stage until `stop()`."""

    stage = "heartbeats"
    keeps = "every origin's heartbeat and the clock"

    def __init__(self, settings: Settings) -> None:
        self.raw_topic = settings.topic("observations.raw")
        self.commands_topic = settings.topic("commands")
        self.heartbeats_topic = settings.topic("heartbeats")
        super().__init__(
            settings,
            (self.raw_topic, self.commands_topic),
            f"{settings.app_id}-heartbeats",
            settings.batch_max_records,
            fetch_max_wait_ms=50,
        )
        self.monitor: Monitor | None = None
        self._unpublished = 0

    def _source(self, topic: str, partition: int) -> str:
        return f"{'raw' if topic == self.raw_topic else 'commands'}:{partition}"

    def idle(self) -> None:
        self.monitor = None

    async def rebuild(self, assigned: set[TopicPartition]) -> str:
        """Step 1 on each assignment: every origin's heartbeat and the clock from `ems.heartbeats`."""
        monitor = Monitor()
        batches = await read_batches(self.settings)
        monitor.restore(batches)
        for tp in sorted(assigned):
            await self.seek(tp, monitor.positions.get(self._source(tp.topic, tp.partition)))
        self.monitor, self._unpublished = monitor, 0
        return f"{len(batches)} records: {len(monitor.heartbeats)} heartbeats"

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        """Step 2: apply the batch's beats and clock, deliver the alerts, publish the decisions."""
        if self.monitor is None:
            return
        step = Step()
        for tp in sorted(batch, key=lambda tp: (tp.topic, tp.partition)):
            for msg in batch[tp]:
                made = await guarded(self.stage, msg, dead, lambda m=msg: self._apply(m))
                if made is not None:
                    step += made
        for obs in step.alerts:  # delivered before the decisions are recorded (see step 2)
            await (await producer.send(self.raw_topic, value=encode(obs), key=obs.key.encode()))
        self._unpublished += sum(len(m) for m in batch.values())
        if step.changes or self._unpublished >= POSITIONS_EVERY:
            record = self.monitor.batch(step.changes)
            await self.emit(
                producer, self.heartbeats_topic, encode(record), key=record.key.encode(), partition=0
            )
            self._unpublished = 0

    async def _apply(self, msg: ConsumerRecord) -> Step | None:
        assert self.monitor is not None
        if not self.monitor.seen(self._source(msg.topic, msg.partition), msg.offset):
            return None
        if msg.topic == self.commands_topic:
            try:
                command = decode(msg.value, Command)
            except DecodeError:
                self.status.skipped += 1
                return None  # the command router dead-letters undecodable commands
            return self.monitor.advance(command.occurred_at)
        if b"heartbeat" not in msg.value:  # most observations: events, metrics, discoveries
            return None
        try:
            obs = decode(msg.value, Observation, defaults=record_defaults(msg))
        except DecodeError:
            self.status.skipped += 1
            return None  # the normalize stage dead-letters undecodable observations
        if not isinstance(obs.body, HeartbeatBody):
            return None
        return self.monitor.receive(Beat.of(obs, received_at(msg)))


def tick(at: datetime | None = None) -> Command:
    """A `heartbeat.tick`: the clock for expiries when no other record comes (its time: now)."""
    return clock_command("heartbeat.tick", "heartbeats", at)


class HeartbeatTicker(CommandTicker):
    """Appends a `heartbeat.tick` (the wall clock) to `ems.commands` every `tick_interval` s."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "heartbeat-ticker", "heartbeat.tick", "heartbeats")
