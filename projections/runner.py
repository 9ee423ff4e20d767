"""The one runner every projection shares: micro-batches, applied with their checkpoint atomically.

Protocol per batch:
1. `getmany` a micro-batch from the projection's topic.
2. Decode each record and map it to rows with the projection's pure `rows()`; undecodable records
   are dead-lettered (sent and flushed before step 3, so a crash re-sends rather than loses them).
3. In ONE PostgreSQL transaction: apply each upsert's rows (collapsed to one per key: small sets by
   executemany, larger ones by COPY into a session temp table + one INSERT … SELECT … ON CONFLICT)
   and advance `projection_checkpoint` per partition, guarded by `last_offset < new`. A guard that
   does not match means another runner got further: roll back and seek again.
4. Kafka offsets are never committed: on assignment the runner seeks to the stored offset + 1.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable

import psycopg
from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from ems.infra.migrate import check_schema_name
from ems.progress import StageProgress
from ems.projections.base import Projection, Row, Upsert
from ems.settings import Settings
from ems.streams.codecs import DecodeError, decode
from ems.streams.kafka import DeadLetters, make_consumer, make_producer

log = logging.getLogger(__name__)

CHECKPOINT_SQL = """
INSERT INTO projection_checkpoint (projection, topic, partition, last_offset) VALUES (%s, %s, %s, %s)
ON CONFLICT (projection, topic, partition) DO UPDATE SET last_offset = EXCLUDED.last_offset
WHERE projection_checkpoint.last_offset < EXCLUDED.last_offset
"""
Progress = Callable[[int], None]
COPY_FROM_ROWS = 200  # below this many rows executemany is as fast as COPY + INSERT … SELECT


class StaleBatch(RuntimeError):
    """The stored checkpoint is already past this batch (another runner applied it)."""


class ProjectionRunner:
    """Runs one projection into one read-model schema.

    Live mode (`follow=True`) joins a consumer group and runs until `stop()`. Rebuild mode
    (`follow=False`) reads every partition from its checkpoint (offset 0 in a fresh schema) up to the
    end offsets seen at start, then returns.
    """

    def __init__(
        self,
        settings: Settings,
        projection: Projection,
        schema: str | None = None,
        *,
        follow: bool = True,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.projection = projection
        self.schema = check_schema_name(schema or settings.read_model_schema)
        self.topic = settings.topic(projection.topic)
        self.follow = follow
        self.progress = progress
        self.applied = 0
        self.total = 0
        self._statements = {u: u.statement() for u in projection.upserts}
        self._staged = {u: u.stage_statements() for u in projection.upserts}
        self._stopping = asyncio.Event()
        self._consumer = None

    def stop(self) -> None:
        """Finish the current batch and return from `run()`."""
        self._stopping.set()

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(
            self.settings.database_url.get_secret_value(), options=f"-c search_path={self.schema}"
        )

    async def open_connection(self) -> psycopg.AsyncConnection:
        """The connection batches are applied on, with the session's COPY staging tables."""
        conn = await self._connect()
        # Staging tables live as long as the session. They are made in a transaction of their own:
        # one made inside a batch's transaction would vanish if that batch rolled back.
        async with conn.transaction():
            for create, _, _ in self._staged.values():
                await conn.execute(create)
        return conn

    async def stored_offsets(self) -> dict[int, int]:
        """partition -> last applied offset, as stored in PostgreSQL."""
        async with await self._connect() as conn:
            cur = await conn.execute(
                "SELECT partition, last_offset FROM projection_checkpoint WHERE projection = %s "
                "AND topic = %s",
                (self.projection.name, self.topic),
            )
            return {p: o for p, o in await cur.fetchall()}

    async def seek_to_checkpoints(self, partitions: set[TopicPartition]) -> None:
        """Position the consumer at stored offset + 1 (or the beginning) for each partition."""
        stored = await self.stored_offsets()
        for tp in partitions:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition] + 1)
            else:
                await self._consumer.seek_to_beginning(tp)

    async def run(self) -> int:
        """Consume and apply until stopped (live) or caught up (rebuild); return records applied."""
        group = f"{self.settings.app_id}-projection-{self.projection.name}-{self.schema}"
        self._consumer = consumer = make_consumer(self.settings, group_id=group if self.follow else None)
        producer = make_producer(self.settings)
        await producer.start()
        await consumer.start()
        letters = DeadLetters(producer, self.settings, stage=f"projection:{self.projection.name}")
        progress = StageProgress(f"projection:{self.projection.name}")
        conn = await self.open_connection()
        try:
            if self.follow:
                consumer.subscribe([self.topic], listener=_SeekOnAssign(self))
                end = None
            else:
                end = await self._assign_all()
            while not self._stopping.is_set():
                if end is not None and await self._caught_up(end):
                    break
                batch = await consumer.getmany(
                    timeout_ms=self.settings.batch_timeout_ms, max_records=self.settings.batch_max_records
                )
                if not batch:
                    continue
                try:
                    count = await self.apply(conn, batch, letters)
                except StaleBatch as exc:
                    log.warning("%s: %s; seeking to the stored checkpoints", self.projection.name, exc)
                    await self.seek_to_checkpoints(set(consumer.assignment()))
                    continue
                self.applied += count
                progress.add(count)
                if self.progress:
                    self.progress(count)
        finally:
            await conn.close()
            await consumer.stop()
            await producer.stop()
        return self.applied

    async def apply(
        self,
        conn: psycopg.AsyncConnection,
        batch: dict[TopicPartition, list[ConsumerRecord]],
        letters: DeadLetters,
    ) -> int:
        """Steps 2-3 of the protocol for one batch; returns the number of records in it."""
        rows: dict[Upsert, list[Row]] = defaultdict(list)
        last: dict[int, int] = {}
        count = 0
        for tp, messages in batch.items():
            for msg in messages:
                try:
                    record = decode(msg.value, self.projection.record_type)
                except DecodeError as exc:
                    await letters.reject(str(exc), msg)
                    continue
                for upsert, row in self.projection.rows(record):
                    rows[upsert].append(row)
            last[tp.partition] = messages[-1].offset
            count += len(messages)
        if letters.count:
            await letters.flush()
        async with conn.transaction(), conn.cursor() as cur:
            for upsert in self.projection.upserts:
                collapsed = upsert.collapse(rows.get(upsert, ()))
                if len(collapsed) >= COPY_FROM_ROWS:
                    await self._copy(cur, upsert, collapsed)
                elif collapsed:
                    await cur.executemany(self._statements[upsert], collapsed)
            for partition, offset in sorted(last.items()):
                await cur.execute(CHECKPOINT_SQL, (self.projection.name, self.topic, partition, offset))
                if cur.rowcount != 1:
                    raise StaleBatch(f"partition {partition} is already past offset {offset}")
        return count

    async def _copy(self, cur: psycopg.AsyncCursor, upsert: Upsert, rows: list[Row]) -> None:
        _, copy_in, insert = self._staged[upsert]
        async with cur.copy(copy_in) as copy:
            for row in rows:
                await copy.write_row(row)
        await cur.execute(insert)

    async def _assign_all(self) -> dict[TopicPartition, int]:
        """Rebuild mode: take every partition, seek to the checkpoints, return the end offsets."""
        partitions = await self._partitions()
        self._consumer.assign(partitions)
        await self.seek_to_checkpoints(set(partitions))
        end = await self._consumer.end_offsets(partitions)
        self.total = 0
        for tp, offset in end.items():
            self.total += max(0, offset - await self._position(tp))
        return end

    async def _partitions(self) -> list[TopicPartition]:
        for _ in range(100):
            found = self._consumer.partitions_for_topic(self.topic)
            if found:
                return [TopicPartition(self.topic, p) for p in sorted(found)]
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {self.topic} has no partitions")

    async def _caught_up(self, end: dict[TopicPartition, int]) -> bool:
        for tp, offset in end.items():
            if await self._position(tp) < offset:
                return False
        return True

    async def _position(self, tp: TopicPartition) -> int:
        return await self._consumer.position(tp)


class _SeekOnAssign(ConsumerRebalanceListener):
    def __init__(self, runner: ProjectionRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.runner.seek_to_checkpoints(set(assigned))
