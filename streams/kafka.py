"""aiokafka building blocks shared by the bulk stages, the API and the tools."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from ems.progress import DEAD_LETTERS
from ems.schemas.deadletter import DeadLetter
from ems.schemas.envelope import Record
from ems.settings import Settings
from ems.streams.codecs import encode
from ems.streams.faust_fixes import install_aiokafka_fixes
from ems.streams.partitioning import remembering_partitioner

log = logging.getLogger(__name__)
install_aiokafka_fixes()  # every Kafka client of the process backs off between failed metadata updates


def make_producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    """An idempotent producer (acks=all) tuned for throughput with small batching delay."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "request_timeout_ms": 30_000,
        "partitioner": remembering_partitioner,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(
    settings: Settings, *topics: str, group_id: str | None, **overrides: object
) -> AIOKafkaConsumer:
    """A consumer with manual commits, reading from the earliest offset when it has none."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_bytes": 16 * 1024 * 1024,
        "session_timeout_ms": int(settings.broker_session_timeout * 1000),
        "heartbeat_interval_ms": int(settings.broker_heartbeat_interval * 1000),
        "isolation_level": "read_committed",
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def read_to_end(
    bootstrap: str, topic: str, partitions: Iterable[int] | None = None
) -> AsyncIterator[ConsumerRecord]:
    """Every record of `topic` (or of its `partitions`) from the beginning up to the end offsets seen
    when it starts; no consumer group, nothing committed."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await reader.start()
    try:
        if partitions is None:
            await reader._client.force_metadata_update()
            partitions = reader.partitions_for_topic(topic) or ()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        end = await reader.end_offsets(tps)
        pending = {tp for tp in tps if end[tp] > 0}
        while pending:
            batch = await reader.getmany(*pending, timeout_ms=500, max_records=5000)
            for records in batch.values():
                for record in records:
                    yield record
            pending = {tp for tp in pending if await reader.position(tp) < end[tp]}
    finally:
        await reader.stop()


async def send_record(producer: AIOKafkaProducer, topic: str, record: Record) -> asyncio.Future:
    """Queue one record keyed by its partition key; returns its delivery future (not yet acked)."""
    return await producer.send(topic, key=record.key.encode(), value=encode(record))


async def settle(futures: list[asyncio.Future]) -> None:
    """Wait for queued sends (after `producer.flush()`) and raise the first failure, if any.

    A flush returns once every batch is done, delivered or not; a send the broker refused is only
    visible on its future. Stages check them before committing their input, so a lost output is
    retried (at-least-once) instead of being skipped silently.
    """
    if not futures:
        return
    results = await asyncio.gather(*futures, return_exceptions=True)
    futures.clear()
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def close_quietly(*clients: AIOKafkaConsumer | AIOKafkaProducer, timeout: float = 10.0) -> None:
    """Stop Kafka clients without hanging: while the broker is away an idempotent producer's
    `stop()` would wait for its undelivered batches forever. Whatever is abandoned was not
    committed as consumed, so it is produced again when the stage restarts."""
    for client in clients:
        try:
            await asyncio.wait_for(client.stop(), timeout)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # aiokafka's consumer.stop() can let out the cancellation of its own fetch tasks.
            log.warning("a Kafka client's stop was cancelled under it; going on")
        except Exception as exc:  # noqa: BLE001 - closing after a failure must not fail again
            log.warning("could not stop a Kafka client cleanly within %.0f s: %s", timeout, exc)


MAX_LETTER_PAYLOAD = 2 * 1024 * 1024  # the dead-letter topic accepts 8 MiB records (base64 adds 1/3)


def letter_for(
    stage: str, reason: str, record: object, item: bytes | None = None, item_id: str | None = None
) -> DeadLetter:
    """The dead letter of a consumed record (an aiokafka ConsumerRecord or a Faust Message), or of one
    item of it (`item`: the item's own bytes; `item_id` tells the letters of one record apart).

    A payload over MAX_LETTER_PAYLOAD is cut, with its size and SHA-256 in the reason (the whole
    record stays at its source position)."""
    payload = (record.value if item is None else item) or b""  # type: ignore[attr-defined]
    if len(payload) > MAX_LETTER_PAYLOAD:
        digest = hashlib.sha256(payload).hexdigest()
        reason = (
            f"{reason} [payload cut to {MAX_LETTER_PAYLOAD} of {len(payload)} bytes, sha256 {digest}; "
            "the whole record is at its source position]"
        )
        payload = payload[:MAX_LETTER_PAYLOAD]
    letter = DeadLetter.of(
        stage=stage,
        reason=reason,
        topic=record.topic,  # type: ignore[attr-defined]
        partition=record.partition,  # type: ignore[attr-defined]
        offset=record.offset,  # type: ignore[attr-defined]
        key=record.key,  # type: ignore[attr-defined]
        payload=payload,
    )
    if item_id is None:
        return letter
    return letter.model_copy(update={"event_id": f"{letter.event_id}:{item_id}"[:128]})


class DeadLetters:
    """Sends rejected records to the dead-letter topic with the reason and the original bytes."""

    def __init__(self, producer: AIOKafkaProducer, settings: Settings, stage: str) -> None:
        self._producer = producer
        self._topic = settings.topic("deadletter")
        self._stage = stage
        self._futures: list[asyncio.Future] = []
        self.count = 0

    async def reject(self, reason: str, record: object) -> None:
        """Dead-letter one consumed record and log the reason (never the payload)."""
        await self.reject_item(reason, record, None, None)

    async def reject_item(self, reason: str, record: object, item: bytes | None, item_id: str | None) -> None:
        """Dead-letter one item of a consumed record (`item` = its bytes, e.g. one event of a batch
        record), or the whole record when `item` is None."""
        letter = letter_for(self._stage, reason, record, item, item_id)
        self.count += 1
        DEAD_LETTERS.labels(self._stage).inc()
        log.warning("dead-lettered %s at %s: %s", letter.key, self._stage, letter.reason[:300])
        self._futures.append(await send_record(self._producer, self._topic, letter))

    async def flush(self) -> None:
        """Wait until every dead letter sent so far is acknowledged by Kafka (raise if one was not)."""
        await self._producer.flush()
        await settle(self._futures)
