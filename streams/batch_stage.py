"""The loop every stateless bulk stage shares: consume a batch, queue its outputs, flush, commit.

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
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)

from ems.progress import StageProgress
from ems.settings import Settings
from ems.streams.failures import Failure, classify, describe
from ems.streams.kafka import DeadLetters, close_quietly, make_consumer, make_producer, settle
from ems.streams.stage import Stage
from ems.streams.stage_status import total_lag

log = logging.getLogger(__name__)
Batch = dict[TopicPartition, list[ConsumerRecord]]
T = TypeVar("T")


def consumer_lag(consumer: AIOKafkaConsumer, next_offsets: dict[TopicPartition, int]) -> int | None:
    """Records between what the stage processed (else its fetch position) and the partitions' ends,
    as of the last fetch; None before anything is known."""
    return total_lag(
        (consumer.highwater(tp), next_offsets.get(tp, _fetch_position(consumer, tp)))
        for tp in consumer.assignment()
    )


def _fetch_position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """The consumer's position without awaiting (aiokafka keeps it in its subscription state)."""
    try:
        state = consumer._subscription.subscription.assignment.state_value(tp)
        return state.position if state is not None and state.has_valid_position else None
    except AttributeError:
        return None


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


class AssignmentNoted(ConsumerRebalanceListener):
    """Notes each assignment on the stage (`stage.assigned`) for its `before_batch` to act on: aiokafka
    may hand out fetched records while a listener runs, so a state rebuild waits for the loop."""

    def __init__(self, stage: BatchStage) -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.stage.assigned = set(assigned)


class BatchStage(Stage):
    """Subclasses name the `stage`, the input `topics` and `group`, and implement `handle`.

    `consumer_options` go to the consumer (e.g. an assignor); `listener()` may return a rebalance
    listener and `before_batch()` runs after each fetch, before the batch is handled (e.g. a state
    rebuild the listener asked for); when it returns True the batch is dropped (it seeked).
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
        self.consumer: AIOKafkaConsumer | None = None

    async def handle(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> None:
        """Turn one input batch into outputs queued with `emit` (and dead letters)."""
        raise NotImplementedError

    def listener(self) -> ConsumerRebalanceListener | None:
        """None, or e.g. `AssignmentNoted(self)` for a stage that rebuilds its state on assignment."""
        return None

    async def before_batch(self) -> bool | None:
        """Runs after each fetch; True drops what was fetched (positions changed under it)."""
        return None

    def offsets_to_commit(self, batch: Batch) -> dict[TopicPartition, int]:
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

    async def run(self) -> None:
        """Run until `stop()`: getmany -> handle -> flush -> commit."""
        # Kept on the stage for what `before_batch` may need of it (seeks after a rebuild).
        self.consumer = consumer = make_consumer(self.settings, group_id=self.group, **self.consumer_options)
        producer = make_producer(self.settings)
        self._sent.clear()
        processed: dict[TopicPartition, int] = {}
        self.status.lag_source = lambda: consumer_lag(consumer, processed)
        try:
            consumer.subscribe(list(self.topics), listener=self.listener())
            await producer.start()
            await consumer.start()
            dead = DeadLetters(producer, self.settings, stage=self.stage)
            progress = StageProgress(self.stage)
            self.status.running()
            while not self.stopping:
                batch = await consumer.getmany(
                    timeout_ms=self.settings.batch_timeout_ms, max_records=self.max_records
                )
                if await self.before_batch() or not batch:
                    continue  # (a batch fetched before a seek that `before_batch` made is dropped)
                # 1. Handle the batch, queueing every output (sends are pipelined by the producer).
                await self.handle(batch, producer, dead)
                # 2. Wait until Kafka has acknowledged all of them (a refused one raises) ...
                await producer.flush()
                await settle(self._sent)
                await dead.flush()
                # 3. ... and only then commit the input offsets (at-least-once).
                offsets = self.offsets_to_commit(batch)
                if offsets:
                    await consumer.commit(offsets)
                processed.update(offsets)
                count = sum(len(m) for m in batch.values())
                progress.add(count)
                self.status.progress(count)
                self.status.dead_letters = dead.count
        finally:
            self.status.lag_source = None
            await close_quietly(consumer, producer)
