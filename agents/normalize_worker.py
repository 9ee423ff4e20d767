"""The normalize stage on batched aiokafka: raw topic -> event batches (and metrics), dead letters.

Stateless and high-volume, so it runs on plain aiokafka batches rather than a Faust agent
(GUIDE section 2: Faust's per-record machinery costs ~20x here). Delivery is at-least-once: a crash
between produce and commit re-sends a range of events with the same ids and raw positions, which
the dedupe stage recognises and skips.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from ems.agents.fingerprint import Fingerprinter
from ems.agents.normalize import Normalizer, Rejected
from ems.agents.severity import SeverityPolicy
from ems.progress import StageProgress
from ems.schemas.event import Event, EventBatch
from ems.schemas.observation import EventBody, MetricsBody, Observation
from ems.settings import Settings
from ems.streams.chunks import encoded_chunks
from ems.streams.codecs import DecodeError, decode
from ems.streams.kafka import DeadLetters, make_consumer, make_producer
from ems.streams.partitioning import partition_for

log = logging.getLogger(__name__)


def _events_record(partition: int, events: list[Event]) -> EventBatch:
    return EventBatch(partition=partition, events=events)


def normalizer_from(settings: Settings) -> Normalizer:
    """The normalize core configured by the settings."""
    return Normalizer(
        severities=SeverityPolicy.of(settings.severity_order, settings.clearing_severities),
        fingerprint=Fingerprinter(settings.fingerprint_fields),
        correlated=Normalizer.correlation_map(settings.correlate),
    )


def record_defaults(msg: ConsumerRecord) -> dict[str, object]:
    """Envelope defaults for a raw record that lacks them, derived from its position and timestamp."""
    return {
        "event_id": f"raw-{msg.partition}-{msg.offset}",
        "occurred_at": datetime.fromtimestamp(msg.timestamp / 1000, UTC).isoformat(),
    }


class NormalizeWorker:
    """Consumes `ems.observations.raw` in batches and publishes normalized records."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.core = normalizer_from(settings)
        self.raw_topic = settings.topic("observations.raw")
        self.events_topic = settings.topic("events")
        self.metrics_topic = settings.topic("metrics")
        self.processed = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to finish its current batch and return."""
        self._stopping.set()

    async def run(self) -> None:
        """Run until `stop()`: getmany -> normalize -> produce -> flush -> commit."""
        consumer = make_consumer(self.settings, self.raw_topic, group_id=f"{self.settings.app_id}-normalize")
        producer = make_producer(self.settings)
        await producer.start()
        await consumer.start()
        dead = DeadLetters(producer, self.settings, stage="normalize")
        progress = StageProgress("normalize")
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(
                    timeout_ms=self.settings.batch_timeout_ms, max_records=self.settings.batch_max_records
                )
                if not batch:
                    continue
                # 1. Normalize the batch, grouping events by their ems.events partition, and queue
                #    every output (sends are pipelined by the producer).
                partitions = len(await producer.partitions_for(self.events_topic))
                grouped: dict[int, list[Event]] = {}
                offsets = {}
                for tp, messages in batch.items():
                    for msg in messages:
                        event = await self._handle(msg, producer, dead)
                        if event is not None:
                            part = partition_for(event.fingerprint.encode(), partitions)
                            grouped.setdefault(part, []).append(event)
                    offsets[tp] = messages[-1].offset + 1
                    self.processed += len(messages)
                for part, events in grouped.items():
                    make = functools.partial(_events_record, part)
                    for value in encoded_chunks(events, make, self.settings.events_per_record):
                        await producer.send(self.events_topic, value=value, partition=part)
                # 2. Wait until Kafka has acknowledged all of them ...
                await producer.flush()
                # 3. ... and only then commit the input offsets (at-least-once).
                await consumer.commit(offsets)
                progress.add(sum(len(m) for m in batch.values()))
        finally:
            await consumer.stop()
            await producer.stop()

    async def _handle(self, msg: ConsumerRecord, producer, dead: DeadLetters) -> Event | None:
        """The Event of an event observation; other kinds are routed here, rejects dead-lettered."""
        try:
            obs = decode(msg.value, Observation, defaults=record_defaults(msg))
        except DecodeError as exc:
            await dead.reject(str(exc), msg)
            return None
        if isinstance(obs.body, EventBody):
            try:
                return self.core.normalize(obs, msg.partition, msg.offset)
            except Rejected as exc:
                await dead.reject(str(exc), msg)
                return None
        if isinstance(obs.body, MetricsBody):
            await producer.send(self.metrics_topic, key=obs.key.encode(), value=msg.value)
        # Discoveries and heartbeats stay on the raw topic, the source of truth, for the stages
        # that consume them (asset registry, heartbeat monitor).
        return None
