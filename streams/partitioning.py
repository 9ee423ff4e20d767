"""Which partition a key goes to: Kafka's murmur2 partitioner, as aiokafka and Faust apply it."""

from __future__ import annotations

import functools

from aiokafka.partitioner import DefaultPartitioner

_partitioner = DefaultPartitioner()


@functools.lru_cache(maxsize=1 << 15)
def partition_for(key: bytes, partitions: int) -> int:
    """The partition a record keyed `key` lands on among `partitions` (as a keyed send would).

    Remembered for the last 32,768 keys: aiokafka's murmur2 is pure Python (~10 µs a key), and the
    stages ask it for every event, whose fingerprints repeat (an alert's events share one)."""
    every = list(range(partitions))
    return _partitioner(key, every, every)
