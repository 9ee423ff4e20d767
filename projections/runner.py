"""The one runner every projection shares: micro-batches, applied with their checkpoint atomically.

It runs on the shared consume loop (`streams/consume_loop.py`); its hooks are the steps below.

Protocol per batch:
1. `getmany` a micro-batch from the projection's topic (after a rebalance, first seek every
   assigned partition to its stored checkpoint + 1 and drop what was fetched before the seek).
2. Decode each record (the projection's own `decode` if it has one, else `decoder_of`: see
   `Projection`) and map it to rows with the projection's pure `rows()`; a record that fails to
   decode or to map (a bug on one input) is dead-lettered with the reason.
3. In ONE PostgreSQL transaction: write the rows of every record inside a savepoint (collapsed to
   one per key: small sets by executemany, larger ones by COPY into a session temp table + one
   INSERT … SELECT … ON CONFLICT). When PostgreSQL refuses a value (`Failure.RECORD`: NUL, out of
   range, a row over a limit), roll back to the savepoint and write each half in its own, down to
   the single record, which is dead-lettered (sent and flushed before the commit, so a crash
   re-sends rather than loses it): one bad row costs one dead letter. Then advance
   `projection_checkpoint` per partition, guarded by `last_offset < new`. A guard that does not
   match means another runner got further: roll back and seek again.
4. Kafka offsets are never committed: on assignment the runner seeks to the stored offset + 1.
5. PostgreSQL unreachable (`Failure.TRANSIENT`): the stage is paused — it reconnects with backoff
   and retries the same batch, keeping its partitions; nothing is dead-lettered for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import psycopg
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRecord,
    TopicPartition,
)
from psycopg import sql
from psycopg_pool import PoolTimeout

from ems.infra.migrate import check_schema_name
from ems.projections.base import Projection, Row, Upsert, decoder_of, units_of
from ems.projections.binary_copy import register_checked_ints
from ems.schemas.envelope import Record
from ems.settings import Settings
from ems.streams.codecs import DecodeError, encode
from ems.streams.consume_loop import AssignmentNoted, Batch, ConsumeLoop, Offsets
from ems.streams.failures import Backoff, Failure, classify, describe
from ems.streams.kafka import DeadLetters, make_consumer

log = logging.getLogger(__name__)

CHECKPOINT_SQL = """
INSERT INTO projection_checkpoint (projection, topic, partition, last_offset) VALUES (%s, %s, %s, %s)
ON CONFLICT (projection, topic, partition) DO UPDATE SET last_offset = EXCLUDED.last_offset
WHERE projection_checkpoint.last_offset < EXCLUDED.last_offset
"""
Progress = Callable[[int], None]
COPY_FROM_ROWS = 200  # below this many rows executemany is as fast as COPY + INSERT … SELECT


@dataclass(frozen=True)
class Mapped:
    """One consumed record (or one item of a batch record) and the rows its projection maps it to."""

    msg: ConsumerRecord
    rows: list[tuple[Upsert, Row]]
    item: Record | None = None


class ReplayLetters:
    """Rebuild mode: a refused record was dead-lettered by the live run already; count and log it."""

    def __init__(self, stage: str) -> None:
        self.stage, self.count = stage, 0

    async def reject_item(self, reason: str, record: ConsumerRecord, item: bytes, item_id: str) -> None:
        await self.reject(f"{reason} (item {item_id})", record)

    async def reject(self, reason: str, record: ConsumerRecord) -> None:
        self.count += 1
        log.warning(
            "%s (rebuild): skipping %s:%d:%d: %s",
            self.stage,
            record.topic,
            record.partition,
            record.offset,
            reason[:300],
        )

    async def flush(self) -> None:
        return None


class StaleBatch(RuntimeError):
    """The stored checkpoint is already past this batch (another runner applied it)."""


class ProjectionRunner(ConsumeLoop):
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
        super().__init__(f"projection:{projection.name}" + ("" if follow else ":rebuild"))
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
        # Step 2's decoding, chosen once: the projection's own `decode`, else `decoder_of` its type.
        self._read: Callable[[bytes | None], Record] = getattr(projection, "decode", None) or partial(
            decoder_of(projection), expect=projection.record_type
        )
        self._maintain = getattr(projection, "maintain", None)
        self._committed = getattr(projection, "committed", None)
        self._forget = getattr(projection, "forget", None)
        self.max_records = settings.batch_max_records
        self._end: dict[TopicPartition, int] | None = None  # rebuild mode: where it stops
        self._conn: psycopg.AsyncConnection | None = None

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(
            self.settings.database_url.get_secret_value(),
            options=f"-c search_path={self.schema}",
            connect_timeout=max(1, int(self.settings.db_connect_timeout)),
        )

    async def open_connection(self) -> psycopg.AsyncConnection:
        """The connection batches are applied on, with the session's COPY staging tables."""
        conn = await self._connect()
        register_checked_ints(conn)  # binary COPY: an integer out of range is refused, not wrapped
        if self._forget is not None:
            self._forget()  # another session: what the last one committed is not assumed stored
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
                self.consumer.seek(tp, stored[tp.partition] + 1)
            else:
                await self.consumer.seek_to_beginning(tp)

    def open_consumer(self) -> AIOKafkaConsumer:
        group = f"{self.settings.app_id}-projection-{self.projection.name}-{self.schema}"
        return make_consumer(self.settings, group_id=group if self.follow else None)

    async def started(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer
    ) -> DeadLetters | ReplayLetters:
        """Live: join the group (seeking on assignment); rebuild: take every partition, note the ends."""
        if not self.follow:
            self._end = await self._with_database(lambda conn: self._assign_all())
            return ReplayLetters(self.name)
        letters = await super().started(consumer, producer)  # stage "projection:<name>"
        consumer.subscribe([self.topic], listener=AssignmentNoted(self))
        return letters

    async def finished(self) -> bool:
        return self._end is not None and await self._caught_up(self._end)

    async def on_assign(self, assigned: set[TopicPartition]) -> bool:
        """Step 1, in the loop: in the rebalance listener a PostgreSQL failure could not be retried."""
        await self._with_database(lambda conn: self._reposition())
        return True

    async def process(self, batch: Batch, producer: AIOKafkaProducer, letters: DeadLetters) -> Offsets | None:
        """Steps 2-3 (retried while PostgreSQL is away); None when another runner got further."""
        try:
            count = await self._with_database(lambda conn: self.apply(conn, batch, letters))
        except StaleBatch as exc:
            log.warning("%s: %s; seeking to the stored checkpoints", self.projection.name, exc)
            await self._with_database(lambda conn: self._reposition())
            return None
        self.applied += count
        if self.progress:
            self.progress(count)
        return {tp: msgs[-1].offset + 1 for tp, msgs in batch.items()}

    async def _maintaining(self) -> None:
        """The projection's periodic work (the metric rollups), on a connection of its own beside the
        batches. It derives from what is committed, so a failure is logged and retried with backoff
        (a database away for a while is not logged every second)."""
        conn: psycopg.AsyncConnection | None = None
        backoff = Backoff(cap=self.settings.retry_cap)
        try:
            while True:
                await asyncio.sleep(self.projection.maintain_every)
                try:
                    if conn is None or conn.closed:
                        conn = await self._connect()
                    await self._maintain(conn)
                    backoff.reset()
                except Exception as exc:
                    log.warning(
                        "%s: periodic work failed: %s; retried with backoff", self.name, describe(exc)
                    )
                    if conn is not None:
                        await conn.close()
                        conn = None
                    await backoff.sleep(self._stopping)
        finally:
            if conn is not None:
                await conn.close()

    async def run(self) -> int:
        """Consume and apply until stopped (live) or caught up (rebuild); return records applied.

        A projection with `maintain(conn, final=False)` has it called every `maintain_every` seconds
        meanwhile, and once more with `final=True` when a rebuild is caught up."""
        beside = asyncio.create_task(self._maintaining()) if self._maintain is not None else None
        try:
            await super().run()
            if beside is not None and not self.follow:
                await self._with_database(lambda conn: self._maintain(conn, final=True))
        finally:
            if beside is not None:
                beside.cancel()
                await asyncio.gather(beside, return_exceptions=True)
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
        return self.applied

    async def _reposition(self) -> None:
        self.assigned = None  # the whole assignment is sought: one noted meanwhile is covered
        await self.seek_to_checkpoints(set(self.consumer.assignment()))

    async def _with_database(self, work):
        """Step 5: run `work(conn)`; while PostgreSQL is unreachable, reconnect with backoff and retry."""
        backoff = Backoff(cap=self.settings.retry_cap)
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await self.open_connection()
                result = await work(self._conn)
            except StaleBatch:
                raise
            except Exception as exc:
                # Only the database is waited for here: a Kafka error (a dead letter not delivered)
                # needs new clients, which a restart of the stage gives (keep_running).
                if classify(exc) is not Failure.TRANSIENT or not isinstance(exc, psycopg.Error | PoolTimeout):
                    raise
                self.status.paused(describe(exc))
                log.warning("%s paused: %s; retrying with backoff", self.name, describe(exc))
                if self._conn is not None:
                    await self._conn.close()
                    self._conn = None
                await backoff.sleep(self._stopping)
                if self.stopping:
                    raise
                continue
            self.status.running()  # back from a pause (a no-op when it was running)
            return result

    async def apply(
        self,
        conn: psycopg.AsyncConnection,
        batch: Batch,
        letters: DeadLetters,
    ) -> int:
        """Steps 2-3 of the protocol for one batch; returns the number of records in it."""
        items: list[Mapped] = []
        last: dict[int, int] = {}
        count = 0
        read = self._read
        for tp, messages in batch.items():
            for msg in messages:
                try:
                    record = read(msg.value)
                    units = units_of(self.projection, record)
                except DecodeError as exc:
                    await letters.reject(str(exc), msg)
                    continue
                except Exception as exc:  # a bug on one input: that record only
                    log.exception(
                        "%s: mapping failed on %s:%d:%d", self.name, msg.topic, msg.partition, msg.offset
                    )
                    await letters.reject(f"projection failed on this record: {describe(exc)}", msg)
                    continue
                items.extend(Mapped(msg, rows, item) for item, rows in units)
            last[tp.partition] = messages[-1].offset
            count += len(messages)
        async with conn.transaction(), conn.cursor() as cur:
            refusals = await self._write(conn, cur, items)
            for refused, reason in refusals:
                why = f"PostgreSQL refused this record: {reason}"
                if refused.item is None:
                    await letters.reject(why, refused.msg)
                else:  # one item of a batch record: its own bytes, the batch record's position
                    await letters.reject_item(why, refused.msg, encode(refused.item), refused.item.event_id)
            if letters.count:
                await letters.flush()
            for partition, offset in sorted(last.items()):
                await cur.execute(CHECKPOINT_SQL, (self.projection.name, self.topic, partition, offset))
                if cur.rowcount != 1:
                    raise StaleBatch(f"partition {partition} is already past offset {offset}")
        if self._committed is not None and not refusals:  # every row of the batch is stored
            self._committed(pair for item in items for pair in item.rows)
        return count

    async def _write(
        self, conn: psycopg.AsyncConnection, cur: psycopg.AsyncCursor, items: list[Mapped]
    ) -> list[tuple[Mapped, str]]:
        """Write the rows of `items` in a savepoint; bisect on a refused value (step 3).

        Returns the records PostgreSQL refused, with the reason; the others are written.
        """
        if not items:
            return []
        try:
            async with conn.transaction():
                await self._write_rows(cur, items)
            return []
        except Exception as exc:
            if classify(exc) is not Failure.RECORD:
                raise
            if len(items) == 1:
                return [(items[0], describe(exc))]
            mid = len(items) // 2
            return await self._write(conn, cur, items[:mid]) + await self._write(conn, cur, items[mid:])

    async def _write_rows(self, cur: psycopg.AsyncCursor, items: list[Mapped]) -> None:
        rows: dict[Upsert, list[Row]] = defaultdict(list)
        for item in items:
            for upsert, row in item.rows:
                rows[upsert].append(row)
        for upsert in self.projection.upserts:
            batch = rows.get(upsert, ())
            # A direct upsert's rows go in uncollapsed first: a key twice in the batch fails the COPY
            # as a stored one does, so collapsing (~5 % of a metrics batch) is needed only then.
            if upsert.direct and len(batch) >= COPY_FROM_ROWS and await self._copy_direct(cur, upsert, batch):
                continue
            collapsed = upsert.collapse(batch)
            if len(collapsed) >= COPY_FROM_ROWS:
                await self._copy(cur, upsert, collapsed)
            elif collapsed:
                await cur.executemany(self._statements[upsert], collapsed)

    async def _copy_direct(self, cur: psycopg.AsyncCursor, upsert: Upsert, rows: list[Row]) -> bool:
        """COPY straight into the table in a savepoint; False (rolled back) when a key is stored
        already or repeated in `rows`."""
        try:
            async with cur.connection.transaction(), cur.copy(upsert.direct_copy()) as copy:
                if upsert.copy_types:
                    copy.set_types(upsert.copy_types)
                for row in rows:
                    await copy.write_row(row)
            return True
        except psycopg.errors.UniqueViolation:
            return False  # the staged ON CONFLICT path

    async def _copy(self, cur: psycopg.AsyncCursor, upsert: Upsert, rows: list[Row]) -> None:
        _, copy_in, insert = self._staged[upsert]
        async with cur.copy(copy_in) as copy:
            if upsert.copy_types:
                copy.set_types(upsert.copy_types)
            for row in rows:
                await copy.write_row(row)
        await cur.execute(insert)
        # A bisected batch stages several times in one transaction: start each from empty.
        await cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(upsert.stage)))

    async def _assign_all(self) -> dict[TopicPartition, int]:
        """Rebuild mode: take every partition, seek to the checkpoints, return the end offsets."""
        partitions = await self._partitions()
        self.consumer.assign(partitions)
        await self.seek_to_checkpoints(set(partitions))
        end = await self.consumer.end_offsets(partitions)
        self.total = 0
        for tp, offset in end.items():
            self.total += max(0, offset - await self._position(tp))
        return end

    async def _partitions(self) -> list[TopicPartition]:
        for _ in range(100):
            found = self.consumer.partitions_for_topic(self.topic)
            if found:
                return [TopicPartition(self.topic, p) for p in sorted(found)]
            await self.consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {self.topic} has no partitions")

    async def _caught_up(self, end: dict[TopicPartition, int]) -> bool:
        for tp, offset in end.items():
            if await self._position(tp) < offset:
                return False
        return True

    async def _position(self, tp: TopicPartition) -> int:
        return await self.consumer.position(tp)
