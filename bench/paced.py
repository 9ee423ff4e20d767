"""Handing a benchmark's records to a Kafka producer, at once (a burst) or at a steady rate (for latency
probes): the producing loop of the pipeline and collector mix benchmarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any


class Paced:
    """Sends records at `rate` per second (0: as fast as the producer takes them), checking the pace
    every `every` records; `sent` counts the records handed over so far (read while it runs) and
    `sent_at` holds the wall-clock time each probe record was handed over, by its probe name."""

    def __init__(self, rate: float = 0, every: int = 20) -> None:
        self.rate = rate
        self.every = every
        self.sent = 0
        self.sent_at: dict[str, float] = {}

    async def produce(
        self,
        producer: Any,
        topic: str,
        records: Iterable[tuple[bytes, bytes, str | None]],
        start: float | None = None,
    ) -> None:
        """Send each (key, value, probe name or None) of `records` to `topic`, paced from `start`
        (a `time.perf_counter()`; now by default)."""
        start = time.perf_counter() if start is None else start
        for i, (key, value, probe) in enumerate(records):
            if probe:
                self.sent_at[probe] = time.time()
            await producer.send(topic, key=key, value=value)
            self.sent += 1
            if self.rate and i % self.every == self.every - 1:
                ahead = start + (i + 1) / self.rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
