"""What every `ems collector ...` process shares: a sink publishing records to Kafka, and stopping
on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from ems.settings import Settings

Sink = Callable[[str, Any], Awaitable[Any]]


@asynccontextmanager
async def kafka_sink(settings: Settings) -> AsyncIterator[Sink]:
    """`sink(topic, record)` appending to the prefixed topic (created if missing); flushed on exit.
    It returns the record's delivery future: a caller that must know the broker took it awaits it."""
    from ems.streams.kafka import make_producer, send_record
    from ems.streams.topics import ensure_topics

    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()

    async def sink(topic: str, record: Any) -> asyncio.Future:
        return await send_record(producer, settings.topic(topic), record)

    try:
        yield sink
    finally:
        await producer.flush()
        await producer.stop()


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call `stop` on SIGTERM or SIGINT (the collector then ends its round and returns)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
