"""A batch's table writes in bulk (`ems.streams.table_writes`): the partition of each key, the
produce batches, the store and the acknowledgements. The real producer and Faust table are exercised by
the pipeline's integration tests (a kill -9 mid-stream recovers the table from this changelog)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from ems.streams.partitioning import partition_for
from ems.streams.table_writes import TableWrites, by_partition, send_changelog


class FakeBatch:
    def __init__(self, room: int) -> None:
        self.room, self.records = room, []

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object | None:
        if self.records and len(self.records) >= self.room:
            return None  # full (an empty batch takes any record, as aiokafka's does)
        self.records.append((key, value))
        return object()


class FakeProducer:
    """Batches of `room` records; each sent batch is acknowledged at the next offset of its partition."""

    def __init__(self, room: int, fail: bool = False) -> None:
        self.room, self.fail, self.sent, self.ends = room, fail, [], {}

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.room)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future:
        self.sent.append((topic, partition, list(batch.records)))
        future = asyncio.get_running_loop().create_future()
        if self.fail:
            future.set_exception(RuntimeError("not acknowledged"))
        else:
            base = self.ends.get(partition, 0)
            self.ends[partition] = base + len(batch.records)
            future.set_result(SimpleNamespace(topic_partition=(topic, partition), offset=base))
        return future


class Store(dict):
    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict = {}

    def set_persisted_offset(self, tp: tuple, offset: int) -> None:
        self.persisted[tp] = offset


def writes_of(n: int) -> dict[bytes, bytes]:
    return {f"key-{i}".encode(): f"value-{i}".encode() for i in range(n)}


def test_each_write_goes_to_the_partition_of_its_key_in_order() -> None:
    writes = writes_of(200)
    parts = by_partition(writes, 4)
    assert sorted(k for items in parts.values() for k, _ in items) == sorted(writes)
    for partition, items in parts.items():
        assert all(partition_for(k, 4) == partition for k, _ in items)
        keys = [k for k, _ in items]
        assert keys == [k for k in writes if k in set(keys)]  # the order given


async def test_a_full_batch_is_sent_and_the_rest_goes_in_another() -> None:
    producer, writes = FakeProducer(room=3), writes_of(40)
    futures = await send_changelog(producer, "cl", writes, 2)
    assert len(futures) == len(producer.sent)
    assert all(len(records) <= 3 for _, _, records in producer.sent)
    for partition in (0, 1):
        got = [r for _, p, records in producer.sent if p == partition for r in records]
        assert got == by_partition(writes, 2)[partition]  # every record once, in order


async def test_the_store_takes_the_values_and_the_acknowledged_offsets() -> None:
    producer, store = FakeProducer(room=5), Store()
    table = SimpleNamespace(data=store, changelog_topic=SimpleNamespace(get_topic_name=lambda: "cl"))
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
    writes = TableWrites(app, table, 2)
    sent = await writes.send(writes_of(12))
    assert store == writes_of(12)
    await writes.confirm(sent)
    last = {}
    for _, partition, records in producer.sent:  # the first offset of each partition's last batch
        last[("cl", partition)] = producer.ends[partition] - len(records)
    assert store.persisted == last
    assert await writes.send({}) == [] and len(producer.sent) == len(sent)


async def test_a_delivery_that_fails_raises_at_the_confirmation() -> None:
    producer = FakeProducer(room=5, fail=True)
    table = SimpleNamespace(data=Store(), changelog_topic=SimpleNamespace(get_topic_name=lambda: "cl"))
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
    writes = TableWrites(app, table, 2)
    sent = await writes.send(writes_of(3))
    with pytest.raises(RuntimeError, match="not acknowledged"):
        await writes.confirm(sent)
