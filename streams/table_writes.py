"""A batch's table writes in bulk: one produce batch per changelog partition, not a send per key.

Faust writes a table key through its own send path: a FutureMessage, the producer buffer, a
`publish_message` and an aiokafka `send` per key, then a callback. For the lifecycle stage, which
changes hundreds of alerts per batch, that path was about a quarter of its process at a steady
load (docs/performance.md). Here each key's record is appended to an aiokafka `BatchBuilder` of its
changelog partition (the partition Faust's partitioner gives the key: `partition_for`), the batches
are handed to the producer, the table's store takes the values, and the caller awaits the
deliveries before the input batch is acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ems.streams.partitioning import partition_for


def by_partition(writes: Mapping[bytes, bytes], partitions: int) -> dict[int, list[tuple[bytes, bytes]]]:
    """The (key, value) writes per changelog partition, each partition's in the order given."""
    out: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, value in writes.items():
        out.setdefault(partition_for(key, partitions), []).append((key, value))
    return out


async def send_changelog(producer: Any, topic: str, writes: Mapping[bytes, bytes], partitions: int) -> list:
    """Hand every write's changelog record to `producer` (an AIOKafkaProducer), batched per
    partition; return the delivery futures (one per produce batch)."""
    futures = []
    for partition, items in by_partition(writes, partitions).items():
        batch = producer.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send, start another
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


class TableWrites:
    """Bulk writes to one Faust table (keys and values as bytes, `use_partitioner=True`)."""

    def __init__(self, app: Any, table: Any, partitions: int) -> None:
        self.app, self.table, self.partitions = app, table, partitions

    async def send(self, writes: Mapping[bytes, bytes]) -> list:
        """Set `writes` in the table's store (what `table[key]` reads) and hand their changelog
        records to the producer; return the delivery futures for `confirm`."""
        if not writes:
            return []
        producer = self.app.producer._ensure_producer()  # the AIOKafkaProducer behind Faust's
        topic = self.table.changelog_topic.get_topic_name()
        futures = await send_changelog(producer, topic, writes, self.partitions)
        data = self.table.data
        for key, value in writes.items():
            data[key] = value
        return futures

    async def confirm(self, futures: list) -> None:
        """Return once Kafka acknowledged every record `send` handed over; a failed delivery raises
        (the input batch is then not acknowledged, and a restart replays it)."""
        data = self.table.data
        for metadata in await asyncio.gather(*futures):
            # a persistent store keeps how far its changelog is (a no-op in memory); the batch's
            # first offset: recovery may read a few records again, never skip one
            data.set_persisted_offset(metadata.topic_partition, metadata.offset)
