"""The projection runner's transaction protocol on real PostgreSQL: rows and checkpoint together."""

from __future__ import annotations

import psycopg
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from ems.infra.migrate import migrate
from ems.projections.events import EventsProjection
from ems.projections.runner import COPY_FROM_ROWS, ProjectionRunner, StaleBatch
from ems.schemas.event import Event, EventBatch
from ems.settings import Settings
from ems.streams.codecs import decode, encode
from ems.worker import projections_for
from tests.integration.harness import NoLetters
from tests.unit.helpers import event

TOPIC = "ems.events"


def _batch(first_offset: int, records: int, events_each: int) -> dict[TopicPartition, list[ConsumerRecord]]:
    tp = TopicPartition(TOPIC, 0)
    out = []
    for i in range(records):
        offset = first_offset + i
        events = [
            event(asset=f"a{offset}-{j}", partition=0, offset=offset * 1000 + j) for j in range(events_each)
        ]
        value = encode(EventBatch(partition=0, events=events))
        out.append(ConsumerRecord(TOPIC, 0, offset, 0, 0, None, value, None, 0, len(value), []))
    return {tp: out}


@pytest.fixture
def runner(servers: dict[str, str]) -> ProjectionRunner:
    settings = Settings(
        kafka_bootstrap=servers["EMS_KAFKA_BOOTSTRAP"],
        database_url=servers["EMS_DATABASE_URL"],
        read_model_schema="runner_test",
        topic_prefix="ems",
    )
    url = settings.database_url.get_secret_value()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS runner_test CASCADE")
    migrate(url, "runner_test")
    return ProjectionRunner(settings, EventsProjection())


async def _count(conn: psycopg.AsyncConnection) -> tuple[int, int | None]:
    rows = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]
    cp = await (await conn.execute("SELECT last_offset FROM projection_checkpoint")).fetchone()
    return rows, cp[0] if cp else None


async def test_rows_and_checkpoint_commit_together_and_stale_batches_roll_back(runner) -> None:
    conn = await runner.open_connection()
    try:
        # A large batch (COPY path) and a small one (executemany path).
        assert await runner.apply(conn, _batch(0, 3, 100), NoLetters()) == 3
        assert await runner.apply(conn, _batch(3, 1, 5), NoLetters()) == 1
        assert await _count(conn) == (305, 3)
        # Redelivery of offsets at or below the checkpoint: refused, nothing applied.
        with pytest.raises(StaleBatch):
            await runner.apply(conn, _batch(2, 2, 100), NoLetters())
        assert await _count(conn) == (305, 3)
    finally:
        await conn.close()


async def test_a_stale_batch_before_the_first_copy_leaves_the_staging_tables_usable(runner) -> None:
    conn = await runner.open_connection()
    try:
        await conn.execute("INSERT INTO projection_checkpoint VALUES ('events', %s, 0, 10)", (TOPIC,))
        await conn.commit()
        with pytest.raises(StaleBatch):  # rolled back, after its COPY ran
            await runner.apply(conn, _batch(0, 3, COPY_FROM_ROWS), NoLetters())
        assert await runner.apply(conn, _batch(11, 3, COPY_FROM_ROWS), NoLetters()) == 3
        assert await _count(conn) == (3 * COPY_FROM_ROWS, 13)
    finally:
        await conn.close()


class Letters:
    """Collects dead letters: (offset, item id or None, reason)."""

    def __init__(self) -> None:
        self.rejected: list[tuple[int, str | None, str]] = []

    @property
    def count(self) -> int:
        return len(self.rejected)

    async def reject(self, reason: str, record: ConsumerRecord) -> None:
        self.rejected.append((record.offset, None, reason))

    async def reject_item(self, reason: str, record: ConsumerRecord, item: bytes, item_id: str) -> None:
        assert decode(item, Event).event_id == item_id  # the item's own bytes are kept
        self.rejected.append((record.offset, item_id, reason))

    async def flush(self) -> None:
        return None


class PoisonedEvents(EventsProjection):
    """The real events mapping, except that it writes what PostgreSQL refuses for marked events:
    a NUL in text (resource `nul`), an integer out of its column's range (resource `huge`), and
    raises on resource `bug` (a mapping bug that only this input triggers)."""

    @staticmethod
    def row(r: Event) -> tuple:
        row = EventsProjection.row(r)
        if r.resource == "bug":
            raise KeyError("a bug on this input")
        if r.resource == "nul":
            return (*row[:6], "a\x00b", *row[7:])
        if r.resource == "huge":
            return (*row[:15], 2**40, *row[16:])
        return row


def _poisoned_batch(first_offset: int, records: int, events_each: int, poison: dict[int, str]):
    """Batch records of `events_each` events; record `offset` in `poison` has one marked event."""
    tp = TopicPartition(TOPIC, 0)
    out, marked = [], {}
    for i in range(records):
        offset = first_offset + i
        events = [
            event(asset=f"a{offset}-{j}", partition=0, offset=offset * 1000 + j) for j in range(events_each)
        ]
        if offset in poison:
            mid = len(events) // 2
            events[mid] = events[mid].model_copy(update={"resource": poison[offset]})
            marked[offset] = events[mid].event_id
        value = encode(EventBatch(partition=0, events=events))
        out.append(ConsumerRecord(TOPIC, 0, offset, 0, 0, None, value, None, 0, len(value), []))
    return {tp: out}, marked


@pytest.mark.parametrize("events_each", [COPY_FROM_ROWS, 3], ids=["copy", "executemany"])
async def test_refused_values_are_bisected_out_one_dead_letter_each(runner, events_each) -> None:
    runner.projection = PoisonedEvents()
    letters = Letters()
    batch, marked = _poisoned_batch(0, 16, events_each, {3: "nul", 7: "huge", 12: "bug"})
    conn = await runner.open_connection()
    try:
        assert await runner.apply(conn, batch, letters) == 16
        by_offset = {offset: (item, reason) for offset, item, reason in letters.rejected}
        assert set(by_offset) == {3, 7, 12}, letters.rejected
        # A refused value costs its event only, not the other events of its batch record.
        assert by_offset[3][0] == marked[3] and "0x00" in by_offset[3][1]
        assert by_offset[7][0] == marked[7] and "out of range" in by_offset[7][1]
        assert "PostgreSQL refused" in by_offset[3][1] and "PostgreSQL refused" in by_offset[7][1]
        # A mapping bug costs the record it raised on.
        assert by_offset[12][0] is None and "KeyError" in by_offset[12][1]
        # Every other row is written, in the same transaction as the checkpoint.
        assert await _count(conn) == (15 * events_each - 2, 15)
        # The runner is still usable: the next batch applies normally.
        assert await runner.apply(conn, _poisoned_batch(16, 2, events_each, {})[0], letters) == 2
        assert await _count(conn) == (17 * events_each - 2, 17)
    finally:
        await conn.close()


def _column_types(conn: psycopg.Connection, table: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    types = dict(
        conn.execute(
            "SELECT attname, atttypid::regtype::text FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table,),
        ).fetchall()
    )
    return tuple(types[column] for column in columns)


def test_every_binary_copy_names_the_types_of_the_columns_it_fills(runner) -> None:
    """A binary COPY needs each value in its column's exact type: the declared `copy_types` are
    checked against the staging tables the runner makes and, for a direct COPY, the table itself
    (a wrong one would fail every large batch)."""
    url = runner.settings.database_url.get_secret_value()
    declared = 0
    with psycopg.connect(url, autocommit=True, options="-c search_path=runner_test") as conn:
        for projection in projections_for(runner.settings):
            for upsert in projection.upserts:
                if not upsert.copy_types:
                    continue
                declared += 1
                named = tuple(
                    conn.execute("SELECT %s::regtype::text", (kind,)).fetchone()[0]
                    for kind in upsert.copy_types
                )
                conn.execute(upsert.stage_statements()[0])
                assert named == _column_types(conn, f"pg_temp.{upsert.stage}", upsert.columns), upsert.table
                if upsert.direct:
                    assert named == _column_types(conn, upsert.table, upsert.columns), upsert.table
    assert declared >= 5  # events, alerts, alert_history and the metric store's two


async def test_binary_copy_stores_integers_at_their_bounds_and_refuses_one_past(runner) -> None:
    """psycopg's binary dumpers would write the low bits of a number too large; the runner's
    connection refuses it (a dead letter through the runner: the poisoned test above)."""
    conn = await runner.open_connection()
    copy_sql = "COPY bounds FROM STDIN (FORMAT BINARY)"
    try:
        await conn.execute("CREATE TEMP TABLE bounds (small integer, large bigint)")
        cur = conn.cursor()
        for row in ((2**31, 0), (-(2**31) - 1, 0), (0, 2**63)):
            with pytest.raises(OverflowError, match="out of range for type"):
                async with conn.transaction(), cur.copy(copy_sql) as copy:
                    copy.set_types(["int4", "int8"])
                    await copy.write_row(row)
        async with conn.transaction():
            async with cur.copy(copy_sql) as copy:
                copy.set_types(["int4", "int8"])
                await copy.write_row((2**31 - 1, 2**63 - 1))
                await copy.write_row((-(2**31), -(2**63)))
            stored = await (await conn.execute("SELECT small, large FROM bounds")).fetchall()
            assert sorted(stored) == [(-(2**31), -(2**63)), (2**31 - 1, 2**63 - 1)]
    finally:
        await conn.close()
