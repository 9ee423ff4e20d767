"""The API's appender on real Kafka: its batch per partition (`EMS_API_BATCH_BYTES`) against a
topic's `max.message.bytes`. Concurrent arrays share one partition's batch, so the setting, not an
array's size, decides what one produce request carries."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from ems.api.appender import Appender
from ems.api.errors import Unavailable
from ems.settings import Settings
from ems.streams.topics import create_missing_topics

ARRAY = [(b"same-source", b"x" * 1000) for _ in range(200)]  # ~200 KB, one partition


async def _count(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()


async def test_the_batch_setting_keeps_produce_requests_under_the_topics_limit(
    servers: dict[str, str],
) -> None:
    bootstrap = servers["EMS_KAFKA_BOOTSTRAP"]
    topic = f"appender-{uuid.uuid4().hex[:8]}"
    await create_missing_topics(bootstrap, {topic: 1}, configs={topic: {"max.message.bytes": "65536"}})
    fits = Appender(Settings(kafka_bootstrap=bootstrap, api_batch_bytes=32_768))
    too_big = Appender(Settings(kafka_bootstrap=bootstrap, api_batch_bytes=1_000_000))
    try:
        await asyncio.gather(*(fits.append_encoded(topic, ARRAY) for _ in range(4)))
        assert await _count(bootstrap, topic) == 4 * len(ARRAY)  # every record acknowledged, once
        with pytest.raises(Unavailable) as refused:
            await too_big.append_encoded(topic, ARRAY)
        assert refused.value.appended is None  # said honestly: the client may not assume either way
    finally:
        await fits.stop()
        await too_big.stop()
