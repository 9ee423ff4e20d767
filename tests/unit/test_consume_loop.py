"""The shared consume loop (streams/consume_loop.py) and the Kafka-commit stage on it
(streams/batch_stage.py), driven by a scripted in-memory consumer and producer."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from ems.settings import Settings
from ems.streams import consume_loop
from ems.streams.batch_stage import BatchStage
from ems.streams.consume_loop import (
    GATHER_BELOW,
    AssignmentNoted,
    Batch,
    ConsumeLoop,
    InputRate,
    Offsets,
    gather_more,
    gather_wait_ms,
)

TP = TopicPartition("in", 0)


def batch_of(*offsets: int) -> Batch:
    return {TP: [ConsumerRecord("in", 0, o, 0, 0, None, b"v", None, 1, -1, []) for o in offsets]}


class FakeConsumer:
    """Hands out the scripted batches (then empty ones) and records what the loop asks of it."""

    def __init__(self, log: list, batches: list[Batch], stage: ConsumeLoop) -> None:
        self.log, self.batches, self.stage = log, list(batches), stage
        self.listener, self.fetched = None, 0

    def subscribe(self, topics: list[str], listener=None) -> None:
        self.listener = listener

    async def start(self) -> None:
        self.log.append("consumer.start")

    async def stop(self) -> None:
        self.log.append("consumer.stop")

    async def getmany(self, timeout_ms: int, max_records: int) -> Batch:
        if not self.batches:
            self.stage.stop()
            return {}
        if self.listener and not self.fetched:  # the first fetch comes with the group's assignment
            await self.listener.on_partitions_assigned([TP])
        self.fetched += 1
        return self.batches.pop(0)

    async def commit(self, offsets: Offsets) -> None:
        self.log.append(("commit", offsets))

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, tp: TopicPartition) -> int:
        return 10


class FakeProducer:
    def __init__(self, log: list, refuse: bool = False) -> None:
        self.log, self.refuse = log, refuse

    async def start(self) -> None:
        self.log.append("producer.start")

    async def stop(self) -> None:
        self.log.append("producer.stop")

    async def send(self, topic: str, value: bytes, key=None, partition=None) -> asyncio.Future:
        self.log.append(("send", topic))
        sent = asyncio.get_running_loop().create_future()
        sent.set_exception(RuntimeError("refused")) if self.refuse else sent.set_result(None)
        return sent

    async def flush(self) -> None:
        self.log.append("flush")


class Echo(BatchStage):
    """Sends one output per input; drops the batch fetched with an assignment (as after a seek)."""

    def __init__(self, log: list, batches: list[Batch], name: str) -> None:
        self.stage = name  # a status of its own
        super().__init__(Settings(batch_gather_ms=0), "in", "group", 100)
        self.log, self.batches, self.lags = log, batches, []

    def open_consumer(self) -> FakeConsumer:
        consumer = FakeConsumer(self.log, self.batches, self)
        consumer.subscribe(list(self.topics), listener=AssignmentNoted(self))
        return consumer

    async def on_assign(self, assigned: set[TopicPartition]) -> bool:
        self.log.append(("assigned", assigned))
        return True

    async def handle(self, batch: Batch, producer, dead) -> None:
        self.lags.append(self.status.lag())
        for _msg in batch[TP]:
            await self.emit(producer, "out", b"x")
        self.log.append("handled")


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []
    monkeypatch.setattr(consume_loop, "make_producer", lambda settings: FakeProducer(calls))
    return calls


async def test_batch_stage_commits_only_after_its_outputs_are_acknowledged(log: list) -> None:
    stage = Echo(log, [batch_of(0), batch_of(1, 2), {}, batch_of(3)], "echo-test")
    await stage.run()
    assert log[:2] == ["producer.start", "consumer.start"]
    loop = log[2:-2]
    assert loop == [
        ("assigned", {TP}),
        *[("send", "out")] * 2,
        "handled",
        *["flush"] * 2,  # the outputs, then the dead letters
        ("commit", {TP: 3}),
        ("send", "out"),
        "handled",
        *["flush"] * 2,
        ("commit", {TP: 4}),
    ]  # the first batch was dropped by `on_assign`, the empty one skipped
    assert log[-2:] == ["consumer.stop", "producer.stop"]
    assert stage.status.records == 3 and stage.status.state == "running"
    assert stage.lags == [None, 10 - 3]  # measured from what was committed
    assert stage.status.lag_source is None  # cleared once the loop ends


async def test_a_refused_output_fails_the_batch_before_its_commit(monkeypatch, log: list) -> None:
    monkeypatch.setattr(consume_loop, "make_producer", lambda settings: FakeProducer(log, refuse=True))
    stage = Echo(log, [{}, batch_of(0)], "refused-test")
    with pytest.raises(RuntimeError, match="refused"):
        await stage.run()
    assert not [c for c in log if c[0] == "commit"] and stage.status.records == 0
    assert log[-2:] == ["consumer.stop", "producer.stop"]  # the clients are closed all the same


class Catching(ConsumeLoop):
    """A rebuild-like loop: ends once `finished`, and leaves a batch unapplied when told to."""

    def __init__(self, log: list, batches: list[Batch], unapplied: int) -> None:
        super().__init__("catching-test")
        self.settings, self.max_records = Settings(batch_gather_ms=0), 10
        self.log, self.batches, self.unapplied, self.applied = log, batches, unapplied, []

    def open_consumer(self) -> FakeConsumer:
        return FakeConsumer(self.log, self.batches, self)

    async def started(self, consumer, producer):
        class Letters:
            count = 1

        return Letters()

    async def finished(self) -> bool:
        return len(self.applied) == 2

    async def process(self, batch: Batch, producer, dead) -> Offsets | None:
        offset = batch[TP][0].offset
        if offset == self.unapplied:
            return None
        self.applied.append(offset)
        return {TP: offset + 1}


async def test_a_loop_ends_when_finished_and_counts_only_what_was_applied(log: list) -> None:
    stage = Catching(log, [batch_of(0), batch_of(1), batch_of(2), batch_of(3)], unapplied=1)
    await stage.run()  # returns without `stop()`: finished after two applied batches
    assert stage.applied == [0, 2] and not stage.stopping
    assert stage.status.records == 2 and stage.status.dead_letters == 1


class TrickleConsumer:
    """Hands out one record per fetch, `gap` seconds apart."""

    def __init__(self, gap: float, records: int = 1000) -> None:
        self.gap, self.next, self.records, self.asked = gap, 0, records, []

    async def getmany(self, timeout_ms: int, max_records: int) -> Batch:
        self.asked.append(max_records)
        if self.next >= self.records:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        await asyncio.sleep(min(self.gap, timeout_ms / 1000))
        self.next += 1
        return batch_of(self.next - 1)


async def test_a_small_batch_gathers_what_arrives_within_the_wait_in_order() -> None:
    first = batch_of(0)
    consumer = TrickleConsumer(0.002)
    consumer.next = 1
    batch = await gather_more(consumer, first, 100, 500)
    offsets = [r.offset for r in batch[TP]]
    assert len(offsets) > 5 and offsets == list(range(len(offsets)))
    assert consumer.asked[0] == 499  # never more than the stage's batch size in all


async def test_a_batch_gathers_nothing_when_large_or_when_the_wait_is_zero() -> None:
    big = batch_of(*range(GATHER_BELOW))
    consumer = TrickleConsumer(0.0)
    assert await gather_more(consumer, big, 100, 5000) is big and consumer.asked == []
    one = batch_of(0)
    assert await gather_more(consumer, one, 0, 5000) == one and consumer.asked == []
    assert await gather_more(consumer, {}, 100, 5000) == {} and consumer.asked == []


async def test_gathering_stops_at_the_wait() -> None:
    one = batch_of(0)
    consumer = TrickleConsumer(0.0, records=1)  # nothing more arrives
    consumer.next = 1
    started = asyncio.get_running_loop().time()
    assert await gather_more(consumer, one, 50, 5000) == one
    assert 0.04 <= asyncio.get_running_loop().time() - started < 0.5


async def test_a_stage_with_small_batches_gathers_up_to_its_own_size() -> None:
    # max_records under GATHER_BELOW: the gathering stops at the stage's size instead of asking
    # aiokafka for 0 more records (which it refuses with ValueError).
    consumer = TrickleConsumer(0.001)
    consumer.next = 1
    batch = await gather_more(consumer, batch_of(0), 200, 5)
    assert [r.offset for r in batch[TP]] == [0, 1, 2, 3, 4]
    assert all(n >= 1 for n in consumer.asked)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_input_rate_counts_the_last_window_only() -> None:
    clock = Clock()
    rate = InputRate(window=1.0, clock=clock)
    assert rate.per_second() == 0
    rate.add(300)
    clock.now += 0.5
    rate.add(900)
    assert rate.per_second() == 1200
    clock.now += 0.6  # the first count is now older than the window
    assert rate.per_second() == 900
    clock.now += 1.0
    assert rate.per_second() == 0


def test_small_batches_gather_only_from_the_rate_set() -> None:
    clock = Clock()
    rate = InputRate(clock=clock)
    settings = Settings(batch_gather_ms=50, batch_gather_from=1000)
    rate.add(999)
    assert gather_wait_ms(settings, rate) == 0  # a few records a second: processed at once
    rate.add(1)
    assert gather_wait_ms(settings, rate) == 50
    assert gather_wait_ms(Settings(batch_gather_ms=0, batch_gather_from=0), rate) == 0
    assert gather_wait_ms(Settings(batch_gather_ms=20, batch_gather_from=0), InputRate(clock=clock)) == 20
    clock.now += 1.0
    assert gather_wait_ms(settings, rate) == 0  # the load went away
