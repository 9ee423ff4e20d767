"""The benchmarks' producing loop (`ems.bench.paced`): every record handed over in order, probes stamped,
and with a rate no record handed over before its time."""

from __future__ import annotations

import time

from ems.bench.paced import Paced


class Producer:
    """Records what is sent and when (`time.perf_counter()`)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, float]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value, time.perf_counter()))


def records(n: int) -> list[tuple[bytes, bytes, str | None]]:
    return [(b"k%d" % i, b"v%d" % i, f"probe-{i}" if i % 7 == 0 else None) for i in range(n)]


async def test_a_burst_hands_every_record_over_in_order_and_stamps_the_probes() -> None:
    producer, paced = Producer(), Paced()
    before = time.time()
    await paced.produce(producer, "raw", records(30))
    assert [(t, k, v) for t, k, v, _ in producer.sent] == [("raw", k, v) for k, v, _ in records(30)]
    assert paced.sent == 30 and sorted(paced.sent_at) == sorted(f"probe-{i}" for i in range(0, 30, 7))
    assert all(before <= at <= time.time() for at in paced.sent_at.values())


async def test_at_a_rate_no_record_goes_before_its_time() -> None:
    producer, paced = Producer(), Paced(rate=1000, every=10)
    start = time.perf_counter()
    await paced.produce(producer, "raw", records(50), start)
    assert paced.sent == 50
    # the pace is checked after every 10th record: record i waits for the (i // 10 * 10)th's time
    assert all(at >= start + (i // 10 * 10) / 1000 for i, (*_, at) in enumerate(producer.sent))
