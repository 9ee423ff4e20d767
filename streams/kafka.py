"""aiokafka building blocks shared by the bulk stages, the API and the tools."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ems.progress import DEAD_LETTERS
from ems.schemas.deadletter import DeadLetter
from ems.schemas.envelope import Record
from ems.settings import Settings
from ems.streams.codecs import encode

log = logging.getLogger(__name__)


def make_producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    """An idempotent producer (acks=all) tuned for throughput with small batching delay."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(
    settings: Settings, *topics: str, group_id: str | None, **overrides: object
) -> AIOKafkaConsumer:
    """A consumer with manual commits, reading from the earliest offset when it has none."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_bytes": 16 * 1024 * 1024,
        "session_timeout_ms": int(settings.broker_session_timeout * 1000),
        "heartbeat_interval_ms": int(settings.broker_heartbeat_interval * 1000),
        "isolation_level": "read_committed",
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def send_record(producer: AIOKafkaProducer, topic: str, record: Record) -> None:
    """Queue one record keyed by its partition key (returns once queued, not once acked)."""
    await producer.send(topic, key=record.key.encode(), value=encode(record))


class DeadLetters:
    """Sends rejected records to the dead-letter topic with the reason and the original bytes."""

    def __init__(self, producer: AIOKafkaProducer, settings: Settings, stage: str) -> None:
        self._producer = producer
        self._topic = settings.topic("deadletter")
        self._stage = stage
        self.count = 0

    async def reject(self, reason: str, record: object) -> None:
        """Dead-letter one consumed record and log the reason (never the payload)."""
        letter = DeadLetter.of_record(stage=self._stage, reason=reason, record=record)
        self.count += 1
        DEAD_LETTERS.labels(self._stage).inc()
        log.warning("dead-lettered %s at %s: %s", letter.key, self._stage, reason)
        await send_record(self._producer, self._topic, letter)

    async def flush(self) -> None:
        """Wait until every dead letter sent so far is acknowledged by Kafka."""
        await self._producer.flush()
