"""The one consume loop of the aiokafka stages (`streams/batch_stage.py`, `projections/runner.py`).

`ConsumeLoop.run` owns the clients and the skeleton; a stage fills in the hooks:

1. `open_consumer()` makes the consumer (subscribed already when `start` should wait for the
   assignment); both clients start; `started()` positions it (subscribe, assign, seek) and returns the
   stage's dead letters.
2. Until `stop()` (or `finished()`): `getmany`, then `before_batch()` — a rebuild or seek a rebalance
   asked for — drops the batch when it returns True; an empty batch is skipped too.
3. `process()` applies the batch and makes it durable (commit Kafka offsets once the outputs are
   acknowledged, or a PostgreSQL checkpoint) and returns the next offset per partition it finished;
   None leaves the batch unapplied (e.g. it was sought past).
4. The records then count in the stage's progress and status, and the status' lag is measured from
   the offsets `process` returned.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from ems.progress import StageProgress
from ems.settings import Settings
from ems.streams.kafka import DeadLetters, close_quietly, make_producer
from ems.streams.stage import Stage
from ems.streams.stage_status import total_lag

Batch = dict[TopicPartition, list[ConsumerRecord]]
Offsets = dict[TopicPartition, int]


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


class ConsumeLoop(Stage):
    """A stage consuming batches: subclasses set `settings` and `max_records` and fill in the hooks."""

    settings: Settings
    max_records: int
    consumer: AIOKafkaConsumer | None = None

    def open_consumer(self) -> AIOKafkaConsumer:
        raise NotImplementedError

    async def started(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> DeadLetters:
        """After both clients started: position the consumer if needed; return the dead letters."""
        raise NotImplementedError

    async def finished(self) -> bool:
        """Checked before each fetch: True ends `run` (a rebuild that caught up)."""
        return False

    async def before_batch(self) -> bool | None:
        """Runs after each fetch; True drops what was fetched (positions changed under it)."""
        return None

    async def process(self, batch: Batch, producer: AIOKafkaProducer, dead: DeadLetters) -> Offsets | None:
        """Apply `batch` and make it durable; return the next offset per partition it finished."""
        raise NotImplementedError

    async def run(self) -> None:
        """Consume until `stop()` or `finished()`: getmany -> before_batch -> process -> count."""
        # Kept on the stage for what the hooks need of it (seeks after a rebuild).
        self.consumer = consumer = self.open_consumer()
        producer = make_producer(self.settings)
        processed: Offsets = {}
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
                if await self.before_batch() or not batch:
                    continue  # (a batch fetched before a seek that `before_batch` made is dropped)
                done = await self.process(batch, producer, dead)
                if done is None:
                    continue
                processed.update(done)
                count = sum(len(m) for m in batch.values())
                progress.add(count)
                self.status.progress(count)
                self.status.dead_letters = dead.count
        finally:
            self.status.lag_source = None
            await close_quietly(consumer, producer)
