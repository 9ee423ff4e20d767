from collections import Counter

from aiokafka.partitioner import murmur2

from ems.streams.partitioning import partition_for


def test_matches_kafkas_murmur2_rule() -> None:
    # Kafka's DefaultPartitioner: (murmur2(key) & 0x7fffffff) % partitions, as Java clients do.
    for i in range(500):
        key = f"{i:032x}".encode()
        assert partition_for(key, 4) == (murmur2(key) & 0x7FFFFFFF) % 4


def test_spread() -> None:
    spread = Counter(partition_for(f"fp-{i}".encode(), 4) for i in range(4000))
    assert set(spread) == {0, 1, 2, 3} and min(spread.values()) > 800
