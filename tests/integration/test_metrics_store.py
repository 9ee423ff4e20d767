"""The metrics projection and its rollup job on the real runner and PostgreSQL: exact rollups whatever
the batching and the passes, late and duplicate samples counted once, buckets left pending until
closed, and concurrent runners creating the same partitions."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from ems.infra import migrate as migrate_module
from ems.infra.migrate import migrate
from ems.projections.metrics import ROLLUPS, MetricsProjection, floor_time, series_id
from ems.projections.metrics_archive import archive_minutes
from ems.projections.metrics_rollup import EVERYTHING
from ems.projections.runner import ProjectionRunner, StaleBatch
from ems.schemas.observation import MetricSample, MetricsBody, Observation
from ems.settings import Settings
from ems.streams.codecs import encode
from tests.integration.harness import NoLetters

TOPIC = "ems.metrics"
T0 = datetime(2026, 3, 1, 23, 50, tzinfo=UTC)  # the samples straddle midnight: two daily partitions
MINUTE = timedelta(minutes=1)


def _observations(seed: int, count: int = 60) -> list[Observation]:
    """Random samples of 3 assets x 2 series over 20 min, with repeats of (series, time)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        asset = f"a{rng.randrange(3)}"
        samples = [
            MetricSample(
                name="m",
                value=rng.randrange(-400, 400) / 4,  # exact in float8 and numeric
                labels={"i": str(rng.randrange(2))},
                at=T0 + timedelta(seconds=15 * rng.randrange(80)),
            )
            for _ in range(rng.randrange(1, 40))
        ]
        out.append(Observation(source="t", asset_id=asset, body=MetricsBody(samples=samples)))
    return out


def _reference(observations: list[Observation], width: timedelta) -> dict[tuple, tuple]:
    """Per (series_id, bucket): count, sum, min, max, last of the first sample per (series, time)."""
    first: dict[tuple[int, datetime], float] = {}
    for obs in observations:
        for s in obs.body.samples:
            first.setdefault((series_id(obs.key, s.name, s.labels), s.at), s.value)
    buckets: dict[tuple, list[tuple[datetime, float]]] = {}
    for (sid, at), value in first.items():
        buckets.setdefault((sid, floor_time(at, width)), []).append((at, value))
    out = {}
    for key, points in buckets.items():
        values = [v for _, v in points]
        last_at, last = max(points)
        out[key] = (
            len(values),
            sum(Decimal(str(v)) for v in values),
            min(values),
            max(values),
            last,
            last_at,
        )
    return out


def _records(observations: list[Observation], partition: int, first: int = 0) -> list[ConsumerRecord]:
    out = []
    for i, obs in enumerate(observations):
        value = encode(obs)
        out.append(ConsumerRecord(TOPIC, partition, first + i, 0, 0, None, value, None, 0, len(value), []))
    return out


def _runner(servers: dict[str, str], schema: str) -> ProjectionRunner:
    settings = Settings(
        kafka_bootstrap=servers["EMS_KAFKA_BOOTSTRAP"],
        database_url=servers["EMS_DATABASE_URL"],
        read_model_schema=schema,
        topic_prefix="ems",
    )
    url = settings.database_url.get_secret_value()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    migrate(url, schema)
    return ProjectionRunner(settings, MetricsProjection())


def _pending(url: str, schema: str) -> dict[str, list[datetime]]:
    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        rows = conn.execute("SELECT res, bucket FROM metric_rollup_pending ORDER BY 1, 2").fetchall()
    out: dict[str, list[datetime]] = {}
    for res, bucket in rows:
        out.setdefault(res, []).append(bucket)
    return out


def _archive(url: str, schema: str) -> list[tuple[datetime, datetime]]:
    """`ems metrics retention`'s step before raw partitions go: the 1m rows of T0's two days."""
    days = [datetime(2026, 3, d, tzinfo=UTC) for d in (1, 2)]
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as conn:
        return archive_minutes(conn, [(day, day + timedelta(days=1)) for day in days])


def _rollup(url: str, schema: str, table: str) -> dict[tuple, tuple]:
    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    return {(r[0], r[1]): (r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_rollups_are_exact_for_any_batching_and_count_duplicates_once(servers, seed) -> None:
    observations = _observations(seed)
    runner = _runner(servers, f"metrics_store_{seed}")
    rng = random.Random(seed)
    records, applied = _records(observations, 0), 0
    conn = await runner.open_connection()
    try:
        while applied < len(records):  # random batch sizes: executemany and COPY paths both
            size = rng.choice([1, 2, 5, 20])
            batch = records[applied : applied + size]
            await runner.apply(conn, {TopicPartition(TOPIC, 0): batch}, NoLetters())
            applied += size
            await runner.projection.rollups.run(conn, quiet=timedelta(0))  # a pass between batches
        # the same samples published again (new offsets, e.g. a normalize redelivery): no change
        again = _records(observations[:10], 0, first=len(records))
        await runner.apply(conn, {TopicPartition(TOPIC, 0): again}, NoLetters())
        rolled = await runner.projection.maintain(conn, final=True)  # as a rebuild ends
        assert rolled.ran and rolled.watermark == floor_time(T0 + timedelta(seconds=15 * 79), MINUTE)
        url = runner.settings.database_url.get_secret_value()
        # only the buckets closed by the watermark are taken; the newest minute is still pending, and
        # no 1m row is written while the raw samples are kept (1m queries aggregate them)
        reference = _reference(observations, MINUTE)
        open_minute = max(bucket for _, bucket in reference)
        assert _pending(url, runner.schema)["1m"] == [open_minute]
        await runner.projection.rollups.drain(conn)  # every bucket closed
    finally:
        await conn.close()
    assert _rollup(url, runner.schema, "metric_rollup_1m") == {}
    for res in ROLLUPS[1:]:  # 5m from the raw samples, 1h from 5m
        assert _rollup(url, runner.schema, res.table) == _reference(observations, res.bucket), res.name
    assert _pending(url, runner.schema) == {}
    # before the raw samples go, their minutes are written
    days = [datetime(2026, 3, d, tzinfo=UTC) for d in (1, 2, 3)]
    assert _archive(url, runner.schema) == [(days[0], days[1]), (days[1], days[2])]  # a day at a time
    assert _rollup(url, runner.schema, "metric_rollup_1m") == reference


@pytest.mark.parametrize("archived", [False, True])
async def test_late_samples_make_their_closed_buckets_recomputed(servers, archived) -> None:
    """Late samples of computed buckets, above the archived point (5m from the raw samples) or below
    it (1m from the raw samples, 5m from 1m)."""
    observations = _observations(4)
    runner = _runner(servers, f"metrics_store_late_{int(archived)}")
    late = [o for o in observations if o.asset_id == "a0"]
    first = [o for o in observations if o.asset_id != "a0"]
    conn = await runner.open_connection()
    try:
        await runner.apply(conn, {TopicPartition(TOPIC, 0): _records(first, 0)}, NoLetters())
        await runner.projection.rollups.drain(conn)
        url = runner.settings.database_url.get_secret_value()
        assert _rollup(url, runner.schema, "metric_rollup_5m") == _reference(first, timedelta(minutes=5))
        if archived:
            _archive(url, runner.schema)
            assert _rollup(url, runner.schema, "metric_rollup_1m") == _reference(first, MINUTE)
        # samples of buckets computed already arrive (a collector catching up), with repeats
        await runner.apply(
            conn, {TopicPartition(TOPIC, 0): _records(late + first[:5], 0, len(first))}, NoLetters()
        )
        assert set(_pending(url, runner.schema)) == {"1m"}
        # just touched: even a watermark past them leaves them for the quiet period (10 s)
        quiet = await runner.projection.rollups.run(conn, upto=EVERYTHING)
        assert quiet.ran and quiet.buckets["1m"] == 0
        await runner.projection.rollups.drain(conn)
    finally:
        await conn.close()
    if not archived:
        _archive(url, runner.schema)
    for res in ROLLUPS:
        assert _rollup(url, runner.schema, res.table) == _reference(observations, res.bucket), res.name


async def test_concurrent_runners_create_the_same_new_partitions_safely(servers) -> None:
    runner = _runner(servers, "metrics_store_race")
    observations = _observations(7, count=40)
    # keyed by asset as on the real topic: each asset's series stay on one partition, in order
    parts = {p: [o for o in observations if o.asset_id == f"a{p}"] for p in range(3)}
    conns = [await runner.open_connection() for _ in parts]
    try:
        # three transactions on three Kafka partitions, all needing the same two new days at once
        await asyncio.gather(
            *(
                runner.apply(c, {TopicPartition(TOPIC, p): _records(parts[p], p)}, NoLetters())
                for (p, c) in zip(parts, conns, strict=True)
            )
        )
        await runner.projection.rollups.drain(conns[0])
    finally:
        for c in conns:
            await c.close()
    url = runner.settings.database_url.get_secret_value()
    assert _rollup(url, runner.schema, "metric_rollup_5m") == _reference(observations, timedelta(minutes=5))
    with psycopg.connect(url, options=f"-c search_path={runner.schema}") as conn:
        parts = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.oid = 'metric_samples'::regclass ORDER BY 1"
        ).fetchall()
    assert [r[0] for r in parts] == ["metric_samples_p20260301", "metric_samples_p20260302"]


def test_an_existing_store_counts_as_archived_up_to_its_oldest_raw_day(servers, monkeypatch) -> None:
    """Migration 029 on a store whose 1m rows were written all along: they are complete up to where the
    raw samples begin, so 1m queries keep reading them there. A new store has no archived point."""
    url, schema = servers["EMS_DATABASE_URL"], "metrics_store_upgrade"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    every = migrate_module.migration_files()
    assert every[-1][0] == "029_metric_minutes_from_raw.sql"
    monkeypatch.setattr(migrate_module, "migration_files", lambda: every[:-1])
    migrate(url, schema)
    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        for day in (3, 1, 2):  # the oldest is found by its name whatever the creation order
            conn.execute("SELECT metric_partitions_for(%s)", (datetime(2026, 3, day, 12, tzinfo=UTC),))
    monkeypatch.undo()
    assert migrate(url, schema) == ["029_metric_minutes_from_raw.sql"]
    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        assert conn.execute("SELECT upto FROM metric_rollup_archived").fetchall() == [
            (datetime(2026, 3, 1, tzinfo=UTC),)
        ]
        conn.execute("DROP SCHEMA IF EXISTS metrics_store_new CASCADE")
        conn.commit()
    migrate(url, "metrics_store_new")
    with psycopg.connect(url, options="-c search_path=metrics_store_new") as conn:
        assert conn.execute("SELECT count(*) FROM metric_rollup_archived").fetchone() == (0,)


def _series_of(url: str, schema: str) -> set[int]:
    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        return {r[0] for r in conn.execute("SELECT series_id FROM metric_series").fetchall()}


async def test_series_rows_are_sent_again_unless_committed_in_the_same_session(servers) -> None:
    """A series committed in this session is not sent again (its row would change nothing); a batch
    that rolled back, a new session and a fresh projection send their series again."""
    runner = _runner(servers, "metrics_store_series")
    url, schema, tp = runner.settings.database_url.get_secret_value(), runner.schema, TopicPartition(TOPIC, 0)

    def poll(asset: str, minute: int) -> Observation:
        at = T0 + minute * MINUTE
        samples = [MetricSample(name="m", value=i, labels={"i": str(i)}, at=at) for i in range(60)]
        return Observation(source="t", asset_id=asset, body=MetricsBody(samples=samples))

    def sent_series(obs: Observation) -> int:
        return sum(1 for upsert, _ in runner.projection.rows(obs) if upsert is runner.projection.series)

    conn = await runner.open_connection()
    try:
        await runner.apply(conn, {tp: _records([poll("a", 0), poll("a", 1)], 0)}, NoLetters())
        a = _series_of(url, schema)
        assert len(a) == 60 and sent_series(poll("a", 2)) == 0 and sent_series(poll("b", 2)) == 60
        # a batch of new series that does not commit (another runner got further: StaleBatch)
        with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as c:
            c.execute("UPDATE projection_checkpoint SET last_offset = 100")
        with pytest.raises(StaleBatch):
            await runner.apply(conn, {tp: _records([poll("b", 0)], 0, first=2)}, NoLetters())
        assert _series_of(url, schema) == a and sent_series(poll("b", 2)) == 60
        await runner.apply(conn, {tp: _records([poll("b", 1)], 0, first=101)}, NoLetters())
        both = _series_of(url, schema)
        assert len(both) == 120 and sent_series(poll("b", 2)) == 0
    finally:
        await conn.close()
    # the table emptied by hand: a new session (a reconnection, a restart) writes the series again
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as c:
        c.execute("DELETE FROM metric_series")
    conn = await runner.open_connection()
    try:
        await runner.apply(conn, {tp: _records([poll("a", 3), poll("b", 3)], 0, first=102)}, NoLetters())
    finally:
        await conn.close()
    assert _series_of(url, schema) == both
