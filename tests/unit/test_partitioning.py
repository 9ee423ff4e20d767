from collections import Counter

from aiokafka.partitioner import DefaultPartitioner, murmur2

from ems.streams.partitioning import partition_for, remembering_partitioner


def test_matches_kafkas_murmur2_rule() -> None:
    # Kafka's DefaultPartitioner: (murmur2(key) & 0x7fffffff) % partitions, as Java clients do.
    for i in range(500):
        key = f"{i:032x}".encode()
        assert partition_for(key, 4) == (murmur2(key) & 0x7FFFFFFF) % 4


def test_spread() -> None:
    spread = Counter(partition_for(f"fp-{i}".encode(), 4) for i in range(4000))
    assert set(spread) == {0, 1, 2, 3} and min(spread.values()) > 800


def test_the_remembering_partitioner_chooses_as_aiokafkas_default() -> None:
    default = DefaultPartitioner()
    for partitions in ([0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [0]):
        for i in range(300):
            key = f"fp-{i}".encode()
            expected = default(key, partitions, partitions)
            assert remembering_partitioner(key, partitions, partitions) == expected
            assert remembering_partitioner(key, partitions, partitions[:1]) == default(key, partitions, [])
    # No key: any available partition, as aiokafka spreads unkeyed records.
    assert {remembering_partitioner(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
