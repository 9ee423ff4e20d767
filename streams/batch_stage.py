"""The loop every stateless bulk stage shares: consume a batch, queue its outputs, flush, commit.

At-least-once: the input offsets are committed only once Kafka has acknowledged every output of
the batch, so a crash re-sends a range of outputs with the same ids and positions, which the next
stage recognises (dedupe and the lifecycle by source position, projections by checkpoint).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from ems.progress import StageProgress
from ems.settings import Settings
from ems.streams.kafka import DeadLetters, make_consumer, make_producer

Batch = dict[TopicPartition, list[ConsumerRecord]]


class BatchStage:
    """Subclasses name the `stage`, the input `topic` and `group`, and implement `handle`."""

    stage = ""

    def __init__(self, settings: Settings, topic: str, group: str, max_records: int) -> None:
        self.settings = settings
        self.topic = topic
        self.group = group
        self.max_records = max_records
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to finish its current batch and return."""
        self._stopping.set()

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        """Turn one input batch into outputs queued on `producer` (and dead letters)."""
        raise NotImplementedError

    async def run(self) -> None:
        """Run until `stop()`: getmany -> handle -> flush -> commit."""
        consumer = make_consumer(self.settings, self.topic, group_id=self.group)
        producer = make_producer(self.settings)
        await producer.start()
        await consumer.start()
        dead = DeadLetters(producer, self.settings, stage=self.stage)
        progress = StageProgress(self.stage)
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(
                    timeout_ms=self.settings.batch_timeout_ms, max_records=self.max_records
                )
                if not batch:
                    continue
                # 1. Handle the batch, queueing every output (sends are pipelined by the producer).
                await self.handle(batch, producer, dead)
                # 2. Wait until Kafka has acknowledged all of them ...
                await producer.flush()
                # 3. ... and only then commit the input offsets (at-least-once).
                await consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in batch.items()})
                progress.add(sum(len(m) for m in batch.values()))
        finally:
            await consumer.stop()
            await producer.stop()
