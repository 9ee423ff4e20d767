"""Which partition a key goes to: Kafka's murmur2 partitioner, as aiokafka and Faust apply it."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

_partitioner = DefaultPartitioner()


def partition_for(key: bytes, partitions: int) -> int:
    """The partition a record keyed `key` lands on among `partitions` (as a keyed send would)."""
    every = list(range(partitions))
    return _partitioner(key, every, every)
