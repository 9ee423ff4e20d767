"""The one consume loop of the batched aiokafka stages and the projection runner: the skeleton is
here, each stage fills in the hooks (docs/design.md, "The consume loop")."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)

from ems.progress import StageProgress
from ems.settings import Settings
from ems.streams.kafka import DeadLetters, close_quietly, make_producer
from ems.streams.stage import Stage
from ems.streams.stage_status import total_lag

Batch = dict[TopicPartition, list[ConsumerRecord]]
Offsets = dict[TopicPartition, int]
GATHER_BELOW = 200  # records: a batch this large already spreads its costs


def consumer_lag(consumer: AIOKafkaConsumer, next_offsets: Offsets) -> int | None:
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


async def gather_more(consumer: AIOKafkaConsumer, batch: Batch, wait_ms: int, max_records: int) -> Batch:
    """`batch` with what arrives within `wait_ms` more, when it is small: at a few hundred records a
    second each fetch holds one or two, and the per-batch costs (a transaction, a commit, a produce
    request per hop) are then most of a stage's work. Records stay in partition order."""
    count, limit = sum(len(m) for m in batch.values()), min(GATHER_BELOW, max_records)
    if not batch or wait_ms <= 0 or count >= limit:
        return batch
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_ms / 1000
    while count < limit and (left := deadline - loop.time()) > 0:
        more = await consumer.getmany(timeout_ms=max(1, int(left * 1000)), max_records=max_records - count)
        for tp, messages in more.items():
            batch.setdefault(tp, []).extend(messages)
            count += len(messages)
    return batch


class InputRate:
    """Records a stage took per second over the last `window` seconds: gathering pays only when
    records arrive fast enough that the wait brings more (at a few a second it would only delay)."""

    def __init__(self, window: float = 1.0, clock=time.monotonic) -> None:
        self.window, self.clock = window, clock
        self._counts: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, count: int) -> None:
        now = self.clock()
        self._counts.append((now, count))
        self._total += count
        self._expire(now)

    def per_second(self) -> float:
        self._expire(self.clock())
        return self._total / self.window

    def _expire(self, now: float) -> None:
        while self._counts and self._counts[0][0] <= now - self.window:
            self._total -= self._counts.popleft()[1]


def gather_wait_ms(settings: Settings, rate: InputRate) -> int:
    """How long a small batch waits for more: `EMS_BATCH_GATHER_MS` once the stage takes at least
    `EMS_BATCH_GATHER_FROM` records a second, else 0 (no latency added at low rates)."""
    if settings.batch_gather_ms <= 0 or rate.per_second() < settings.batch_gather_from:
        return 0
    return settings.batch_gather_ms


class AssignmentNoted(ConsumerRebalanceListener):
    """Notes each assignment on the stage (`stage.assigned`) for the loop to act on (`on_assign`):
    aiokafka may hand out fetched records while a listener runs, so a rebuild or seek waits for it."""

    def __init__(self, stage: ConsumeLoop) -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.stage.assigned = set(assigned)


class ConsumeLoop(Stage):
    """A stage consuming batches: subclasses set `settings` and `max_records` and fill in the hooks."""

    settings: Settings
    max_records: int
    consumer: AIOKafkaConsumer | None = None
    assigned: set[TopicPartition] | None = None  # noted by `AssignmentNoted`, taken by the loop

    def open_consumer(self) -> AIOKafkaConsumer:
        raise NotImplementedError

    async def started(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> DeadLetters:
        """After both clients started: position the consumer if needed; return the dead letters."""
        return DeadLetters(producer, self.settings, stage=self.name)

    async def finished(self) -> bool:
        """Checked before each fetch: True ends `run` (a rebuild that caught up)."""
        return False

    async def on_assign(self, assigned: set[TopicPartition]) -> bool | None:
        """After an assignment, before anything fetched is applied (a state rebuild, a seek); True
        drops what was fetched (positions changed under it)."""
        return None

    async def process(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> Offsets | None:
        """Apply `batch` and make it durable; return the next offset per partition it finished."""
        raise NotImplementedError

    async def run(self) -> None:
        """Consume until `stop()` or `finished()`: getmany -> on_assign -> process -> count."""
        # Kept on the stage for what the hooks need of it (seeks after a rebuild).
        self.consumer = consumer = self.open_consumer()
        producer = make_producer(self.settings)
        processed: Offsets = {}
        rate = InputRate()
        self.status.lag_source = lambda: consumer_lag(consumer, processed)
        try:
            await producer.start()
            await consumer.start()
            dead = await self.started(consumer, producer)
            progress = StageProgress(self.name)
            self.status.running()
            while not self.stopping and not await self.finished():
                batch = await consumer.getmany(
                    timeout_ms=self.settings.batch_timeout_ms, max_records=self.max_records
                )
                wait = gather_wait_ms(self.settings, rate)
                batch = await gather_more(consumer, batch, wait, self.max_records)
                if self.assigned is not None:
                    assigned, self.assigned = self.assigned, None
                    if await self.on_assign(assigned):
                        continue  # fetched before the seeks `on_assign` made: dropped
                if not batch:
                    continue
                done = await self.process(batch, producer, dead)
                if done is None:
                    continue
                processed.update(done)
                count = sum(len(m) for m in batch.values())
                rate.add(count)
                progress.add(count)
                self.status.progress(count)
                self.status.dead_letters = dead.count
        finally:
            self.status.lag_source = None
            await close_quietly(consumer, producer)
