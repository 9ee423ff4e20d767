"""Baseline: bare aiokafka consume -> produce of small JSON records, with getmany batches."""

from __future__ import annotations

import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def passthrough(
    bootstrap: str,
    n: int,
    partitions: int = 4,
    prefix: str = "bench-pt",
    records: list[tuple[bytes, bytes]] | None = None,
) -> float:
    """Fill a topic with `n` small records (or the given (key, value) `records`), then time copying
    them to another topic; return msg/s."""
    if records is not None:
        n = len(records)
    else:
        records = (
            (f"k{i % 500}".encode(), orjson.dumps({"i": i, "source": "bench", "severity": "minor"}))
            for i in range(n)
        )
    src, dst = f"{prefix}.in", f"{prefix}.out"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in (src, dst)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(src, key=key, value=value)
        await producer.flush()
        consumer = AIOKafkaConsumer(
            src,
            bootstrap_servers=bootstrap,
            group_id=f"{prefix}-g",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            copied = 0
            start = None
            while copied < n:
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                if start is None and batch:
                    start = time.perf_counter()
                for messages in batch.values():
                    for msg in messages:
                        await producer.send(dst, key=msg.key, value=msg.value)
                    copied += len(messages)
                await producer.flush()
                if batch:
                    await consumer.commit()
            return n / (time.perf_counter() - start)
        finally:
            await consumer.stop()
    finally:
        await producer.stop()
