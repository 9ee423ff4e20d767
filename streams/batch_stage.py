"""The bulk stages that commit Kafka offsets, on the shared loop (`streams/consume_loop.py`): each
batch is handled, its outputs queued and flushed, then its input offsets committed.

At-least-once: the input offsets are committed only once Kafka has acknowledged every output of
the batch, so a crash re-sends a range of outputs with the same ids and positions, which the next
stage recognises (dedupe and the lifecycle by source position, projections by checkpoint).

Failures (see `streams.failures`): an exception while handling ONE record — a bad value, a bug that
only this input triggers — dead-letters that record with the reason and the stage goes on; a
transient one (Kafka away) propagates, and `keep_running` restarts the stage from its committed
offsets after a backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRecord,
)

from ems.settings import Settings
from ems.streams.consume_loop import AssignmentNoted, Batch, ConsumeLoop, Offsets
from ems.streams.failures import Failure, classify, describe
from ems.streams.kafka import DeadLetters, make_consumer, settle

log = logging.getLogger(__name__)
T = TypeVar("T")


async def guarded(
    stage: str, msg: ConsumerRecord, dead: DeadLetters, work: Callable[[], Awaitable[T]]
) -> T | None:
    """Run `work` for one record; a failure that is not transient dead-letters the record."""
    try:
        return await work()
    except Exception as exc:
        if classify(exc) is Failure.TRANSIENT:
            raise
        where = f"{msg.topic}:{msg.partition}:{msg.offset}"
        log.exception("%s: failed on %s; dead-lettering it", stage, where)
        await dead.reject(f"failed on this record: {describe(exc)}", msg)
        return None


class BatchStage(ConsumeLoop):
    """Subclasses name the `stage`, the input `topics` and `group`, and implement `handle`.

    `consumer_options` go to the consumer (e.g. an assignor); `on_assign` may rebuild state after an
    assignment.
    """

    stage = ""

    def __init__(
        self,
        settings: Settings,
        topics: str | tuple[str, ...],
        group: str,
        max_records: int,
        **consumer_options: object,
    ) -> None:
        super().__init__(self.stage)
        self.settings = settings
        self.topics = (topics,) if isinstance(topics, str) else topics
        self.group = group
        self.max_records = max_records
        self.consumer_options = consumer_options
        self._sent: list[asyncio.Future] = []

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        """Turn one input batch into outputs queued with `emit` (and dead letters)."""
        raise NotImplementedError

    def offsets_to_commit(self, batch: Batch) -> Offsets:
        """The input offsets to commit once the batch's outputs are acknowledged: past its last record
        per partition (a stage replaying records it committed before leaves those out)."""
        return {tp: msgs[-1].offset + 1 for tp, msgs in batch.items()}

    async def emit(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one output; its delivery is checked before the input is committed."""
        self._sent.append(await producer.send(topic, value=value, key=key, partition=partition))

    def open_consumer(self) -> AIOKafkaConsumer:
        """Subscribed before it starts: `start` returns once the group assigned the partitions."""
        self._sent.clear()
        consumer = make_consumer(self.settings, group_id=self.group, **self.consumer_options)
        consumer.subscribe(list(self.topics), listener=AssignmentNoted(self))
        return consumer

    async def process(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> Offsets:
        """handle -> flush -> commit."""
        # 1. Handle the batch, queueing every output (sends are pipelined by the producer).
        await self.handle(batch, producer, dead)
        # 2. Wait until Kafka has acknowledged all of them (a refused one raises) ...
        await producer.flush()
        await settle(self._sent)
        await dead.flush()
        # 3. ... and only then commit the input offsets (at-least-once).
        offsets = self.offsets_to_commit(batch)
        if offsets:
            await self.consumer.commit(offsets)
        return offsets
