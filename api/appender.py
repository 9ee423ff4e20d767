"""The API's one way to append to Kafka: answered within a bound, honest about what happened.

Every write endpoint appends through `Appender.append`. It answers within `api_write_timeout`:
1. No producer yet (Kafka was away when the API started), or the leader of a partition the
   records go to cannot be connected to within a second -> `Unavailable(appended=False)`: nothing
   was sent, a retry is safe.
2. Otherwise the records are queued and their acknowledgements awaited until the deadline. All
   acknowledged -> done (the log has them). Any not acknowledged by then, or failed after being
   sent -> `Unavailable(appended=None)`: a produce request may have reached the broker, so the
   append may still land and the answer says so; a retry with the same Idempotency-Key (or the
   event's own id) is applied once by the pipeline.
The producer is not idempotent on purpose: an idempotent producer never expires a batch, so a
write the client was told failed would be appended whenever Kafka came back. This one gives a
batch up after half the bound (`request_timeout_ms`), so nothing lingers past the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from ems.api.errors import Unavailable
from ems.schemas.envelope import Record
from ems.settings import Settings
from ems.streams.codecs import encode
from ems.streams.kafka import make_producer
from ems.streams.partitioning import partition_for

log = logging.getLogger(__name__)


class Appender:
    """Appends records to Kafka for the API (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeout = settings.api_write_timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._background: asyncio.Task | None = None

    def _new_producer(self) -> AIOKafkaProducer:
        return make_producer(
            self.settings,
            linger_ms=1,
            # aiokafka sends one batch per partition at a time: at the workers' 256 KB, arrays of 500
            # events (~225 KB) waited their turn for one acknowledgement each (docs/performance.md,
            # "Native arrays encoded once"). The default stays under the broker's default
            # `message.max.bytes` (1,048,588), which the raw topic keeps.
            max_batch_size=self.settings.api_batch_bytes,
            enable_idempotence=False,
            request_timeout_ms=max(500, int(self.timeout * 500)),
            retry_backoff_ms=100,
        )

    async def start(self) -> None:
        """Try to start the producer now; if Kafka is away, the first write tries again."""
        with contextlib.suppress(Unavailable):
            await self.producer()

    @property
    def started(self) -> bool:
        return self._producer is not None

    def start_soon(self) -> None:
        """Start the producer in the background (for health checks, which must not wait for it)."""
        if self._producer is None and not self._lock.locked():
            task = asyncio.get_running_loop().create_task(self.start())
            self._background = task  # keep a reference until it is done

    async def stop(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), self.timeout)
            self._producer = None

    async def producer(self) -> AIOKafkaProducer:
        """The started producer; `Unavailable(appended=False)` when Kafka cannot be reached now."""
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                candidate = self._new_producer()
                try:
                    await asyncio.wait_for(candidate.start(), self.timeout)
                except BaseException as exc:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(candidate.stop(), 1)
                    if not isinstance(exc, TimeoutError | KafkaError | OSError):
                        raise
                    raise Unavailable(f"Kafka is unavailable: {type(exc).__name__}") from None
                self._producer = candidate
        return self._producer

    async def append(self, topic: str, records: list[Record]) -> None:
        """Append `records` keyed by their partition key; raise `Unavailable` as described above."""
        await self.append_encoded(topic, [(r.key.encode(), encode(r)) for r in records])

    async def append_encoded(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        """`append` of records already encoded, as (partition key, value) pairs."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        producer = await self.producer()
        keys = [key for key, _ in records]
        parts = await self._check_leaders(producer, topic, keys)
        futures: list[asyncio.Future] = []
        try:
            # One bound for the whole loop: a `wait_for` per record made a task per record, which was
            # most of the appender's cost for an array of 500 events.
            async with asyncio.timeout_at(deadline):
                for key, value in records:
                    part = parts.get(key) if parts else None
                    futures.append(await producer.send(topic, key=key, value=value, partition=part))
        except (TimeoutError, KafkaError) as exc:
            raise Unavailable(
                f"Kafka did not take the write in {self.timeout:g} s: {type(exc).__name__}",
                appended=False if not futures else None,
            ) from None
        done, pending = await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
        failed = [f for f in done if f.exception() is not None]
        if pending or failed:
            why = type(failed[0].exception()).__name__ if failed else "no acknowledgement"
            log.warning("append to %s not acknowledged within %.1f s: %s", topic, self.timeout, why)
            raise Unavailable(
                f"Kafka did not acknowledge the write in {self.timeout:g} s ({why})", appended=None
            )

    async def _check_leaders(
        self, producer: AIOKafkaProducer, topic: str, keys: list[bytes]
    ) -> dict[bytes, int] | None:
        """Step 1: each partition the records go to has a leader we can connect to now. The partition
        of each key (Kafka's keyed rule), or None when the topic's metadata is not known yet."""
        client = producer.client
        partitions = client.cluster.partitions_for_topic(topic)
        if not partitions:
            return None  # metadata not known yet: `send` fetches it within the bound
        count = len(partitions)
        parts = {key: partition_for(key, count) for key in set(keys)}
        for part in set(parts.values()):
            leader = client.cluster.leader_for_partition(TopicPartition(topic, part))
            ready = False
            if leader is not None and leader != -1:
                with contextlib.suppress(Exception):
                    ready = await asyncio.wait_for(client.ready(leader), min(1.0, self.timeout))
            if not ready:
                client.force_metadata_update()
                raise Unavailable(f"Kafka is unavailable: no reachable leader for {topic}:{part}")
        return parts
