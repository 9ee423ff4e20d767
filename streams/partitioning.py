"""Which partition a key goes to: Kafka's murmur2 partitioner, as aiokafka and Faust apply it."""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

from aiokafka.partitioner import murmur2


@functools.lru_cache(maxsize=1 << 15)
def partition_for(key: bytes, partitions: int) -> int:
    """The partition a record keyed `key` lands on among `partitions` (as a keyed send would).

    Remembered for the last 32,768 keys: aiokafka's murmur2 is pure Python (~10 µs a key), and the
    stages ask it for every event, whose fingerprints repeat (an alert's events share one)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def remembering_partitioner(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """aiokafka's `DefaultPartitioner` with the hash remembered (`partition_for`): for a producer's
    `partitioner` (Faust's `producer_partitioner`), whose table writes hash every key they send."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[partition_for(key, len(all_partitions))]
