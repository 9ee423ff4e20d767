"""The rollup job: 1m/5m/1h rollups recomputed per closed bucket, outside the ingest transaction.

The metrics projection writes samples and series, and marks each 1-minute bucket a batch touched in
`metric_rollup_pending` (migration 028), stamped with the time. Every second the runner calls the
projection's `maintain`, one pass of this job in a transaction of its own, on a connection of its own:

1. The watermark (event time): the latest pending 1-minute bucket's end minus the grace, never lower
   than before (`metric_rollup_state`). A bucket is closed once its end is at or before it and no
   batch has touched it for the quiet period: while a backlog is read, the partitions run unevenly,
   and the watermark set by the fastest would close minutes the others still bring samples to (each
   would then be computed again; measured: every 1m bucket twice, every 5m bucket five times).
2. For 1m, then 5m, then 1h: the closed pending buckets are locked and removed from `pending`, and
   the coarser bucket holding each is marked pending in turn. A 5m or 1h bucket's rows are deleted
   and recomputed whole from the finer data: 5m from the raw samples, 1h from 5m. A 1m bucket needs
   nothing while its raw samples are kept: 1m queries aggregate them (a series polled once a minute
   would get a 1m row repeating its one sample, and those rows were most of the job's writes).
   `ems metrics retention` writes a day's 1m rows from the raw samples just before dropping its raw
   partition (`archive_minutes`) and records how far it has in `metric_rollup_archived`; below that
   point 1m rows are complete, and 5m buckets there are recomputed from them.

A bucket is never merged into, always recomputed, so a late or repeated sample only makes its bucket
pending again, and a replay with other batch boundaries ends with the same rows once the job has
passed. Ingest takes a row lock on each pending row it touches (`DO UPDATE`), so a batch committing
while the job recomputes the same bucket either precedes the job's snapshot or marks the bucket pending
again. One job at a time per schema (a transaction advisory lock; other runners skip their pass).
Queries read rollup rows only below the earliest pending bucket (for 1m: and below the archived
point) and the raw samples from there on (`ems.api.series`), so they stay exact between passes.

A pending 1-minute bucket below the archived point (a sample days late) is recomputed from the raw
samples, unless it is older than the raw retention and its rollup row exists already: then it is not
recomputed (its raw samples may be gone: recomputing would replace the minute with the late sample
alone); it is logged and dropped from pending. One without a rollup row (a replay of old data) is
computed from what raw holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from ems.projections.metric_buckets import EPOCH, RAW, ROLLUPS, Resolution

log = logging.getLogger(__name__)

_LOCK_KEY = "hashtext(current_schema() || '.metric_rollup')"  # one job pass at a time per schema
LOCK_SQL = f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})"  # a pass: skip while another holds it
WAIT_LOCK_SQL = f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"  # the archive: wait for the pass to end
WATERMARK_SQL = """
INSERT INTO metric_rollup_state (id, watermark)
SELECT 1, max(bucket) + %s::interval FROM metric_rollup_pending WHERE res = '1m' HAVING count(*) > 0
ON CONFLICT (id) DO UPDATE SET watermark = greatest(metric_rollup_state.watermark, EXCLUDED.watermark)
RETURNING watermark
"""
STORED_SQL = "SELECT watermark FROM metric_rollup_state WHERE id = 1"
ARCHIVED_SQL = "SELECT upto FROM metric_rollup_archived WHERE id = 1"


def pending_cut(res: Resolution) -> sql.Composed:
    """Where `res`'s rollup rows stop being complete, as an SQL expression: the earliest bucket pending
    in `res` or a finer rollup, floored to `res`'s width; 'infinity' when none is; for 1m also the
    archived point ('-infinity' before the first archive). Below it a query reads the rollup, from it
    on the raw samples (`ems.api.series`, the drills' audit)."""
    bounds = [
        sql.SQL("(SELECT min(bucket) FROM metric_rollup_pending WHERE res = {})").format(sql.Literal(r.name))
        for r in ROLLUPS[: ROLLUPS.index(res) + 1]
    ]
    if res is ROLLUPS[0]:
        bounds.append(sql.SQL("coalesce(({}), '-infinity'::timestamptz)").format(sql.SQL(ARCHIVED_SQL)))
    return sql.SQL(
        "coalesce(date_bin({}::interval, least({}), {}::timestamptz), 'infinity'::timestamptz)"
    ).format(
        sql.Literal(f"{res.seconds} seconds"), sql.SQL(", ").join(bounds), sql.Literal(EPOCH.isoformat())
    )


UNSETTLED_SQL = """
SELECT (NOT EXISTS (SELECT 1 FROM metric_rollup_state) AND EXISTS (SELECT 1 FROM metric_rollup_pending))
    OR EXISTS (SELECT 1 FROM metric_rollup_pending p, metric_rollup_state s
               WHERE p.bucket + CASE p.res WHEN '1m' THEN interval '1 minute'
                                           WHEN '5m' THEN interval '5 minutes'
                                           ELSE interval '1 hour' END <= s.watermark)
"""  # true while a bucket the watermark closed waits for its quiet period or for a pass
EVERYTHING = datetime(2100, 1, 1, tzinfo=UTC)  # `upto` for a drain: every pending bucket is closed


@dataclass
class Rolled:
    """What one pass did: buckets recomputed per resolution, stale ones skipped, the watermark used."""

    ran: bool = False
    watermark: datetime | None = None
    buckets: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per resolution, its statements' time
    skipped: int = 0


def ranges(buckets: Sequence[datetime], width: timedelta) -> list[tuple[datetime, datetime]]:
    """Sorted bucket starts -> [lo, hi) runs of consecutive buckets (one statement per run)."""
    out: list[tuple[datetime, datetime]] = []
    for b in buckets:
        if out and out[-1][1] == b:
            out[-1] = (out[-1][0], b + width)
        else:
            out.append((b, b + width))
    return out


def recompute_statement(res: Resolution, finer: Resolution) -> sql.Composed:
    """INSERT of `res`'s buckets in [lo, hi) aggregated from `finer` (raw samples or a finer rollup)."""
    width = sql.Literal(f"{res.seconds} seconds")
    epoch = sql.Literal(EPOCH.isoformat())
    if finer is RAW:
        time, aggs = "ts", "count(*), sum(value::numeric), min(value), max(value), "
        last, last_ts = "(array_agg(value ORDER BY ts DESC))[1]", "max(ts)"
    else:
        time, aggs = "bucket", "sum(count), sum(sum), min(min), max(max), "
        last, last_ts = "(array_agg(last ORDER BY last_ts DESC))[1]", "max(last_ts)"
    return sql.SQL(
        "INSERT INTO {table} (series_id, bucket, count, sum, min, max, last, last_ts) "
        "SELECT series_id, date_bin({width}::interval, {time}, {epoch}::timestamptz), "
        "{aggs}{last}, {last_ts} "
        "FROM {source} WHERE {time} >= %s AND {time} < %s GROUP BY 1, 2"
    ).format(
        table=sql.Identifier(res.table),
        width=width,
        time=sql.Identifier(time),
        epoch=epoch,
        aggs=sql.SQL(aggs),
        last=sql.SQL(last),
        last_ts=sql.SQL(last_ts),
        source=sql.Identifier(finer.table),
    )


def delete_statement(res: Resolution) -> sql.Composed:
    """DELETE of `res`'s rows in [lo, hi), before `recompute_statement` writes them again."""
    return sql.SQL("DELETE FROM {} WHERE bucket >= %s AND bucket < %s").format(sql.Identifier(res.table))


class RollupJob:
    """One pass per call of `run` (see the module docstring). `grace`: how late a sample may come
    and still be counted by the first computation of its bucket; `raw_retention`: see above."""

    def __init__(
        self,
        grace: timedelta = timedelta(minutes=1),
        raw_retention: timedelta | None = None,
        quiet: timedelta = timedelta(seconds=10),
    ):
        self.grace = grace
        self.raw_retention = raw_retention
        self.quiet = quiet
        minute, five, hour = ROLLUPS
        hourly = recompute_statement(hour, five)
        # (resolution, its statement below the archived point, from it on (None: nothing), coarser)
        self._steps = [
            (minute, recompute_statement(minute, RAW), None, five),
            (five, recompute_statement(five, minute), recompute_statement(five, RAW), hour),
            (hour, hourly, hourly, None),
        ]

    async def run(
        self, conn: psycopg.AsyncConnection, upto: datetime | None = None, quiet: timedelta | None = None
    ) -> Rolled:
        """Recompute every pending bucket closed by the watermark (or by `upto`, which is not stored:
        a drain for tests and benchmarks) and untouched for `quiet` (default: the job's)."""
        quiet = self.quiet if quiet is None else quiet
        done = Rolled()
        async with conn.transaction():
            if not (await (await conn.execute(LOCK_SQL)).fetchone())[0]:
                return done
            done.ran = True
            row = await (await conn.execute(WATERMARK_SQL, (timedelta(minutes=1) - self.grace,))).fetchone()
            if row is None:
                row = await (await conn.execute(STORED_SQL)).fetchone()
            watermark = upto or (row[0] if row else None)
            done.watermark = watermark
            if watermark is None:
                return done
            row = await (await conn.execute(ARCHIVED_SQL)).fetchone()
            archived = row[0] if row else None
            for res, below, above, coarser in self._steps:
                started = time.perf_counter()
                buckets = await self._take(conn, res, watermark, quiet, done, archived)
                for lo, hi in ranges(buckets, res.bucket):
                    for part_lo, part_hi, statement in split_at(lo, hi, archived, below, above):
                        await _recompute(conn, res, statement, part_lo, part_hi)
                if buckets and coarser is not None:
                    await conn.execute(
                        "INSERT INTO metric_rollup_pending (res, bucket) "
                        "SELECT DISTINCT %s, date_bin(%s::interval, b, %s::timestamptz) "
                        "FROM unnest(%s::timestamptz[]) b ORDER BY 2 "
                        "ON CONFLICT (res, bucket) DO UPDATE SET touched_at = now()",
                        (coarser.name, f"{coarser.seconds} seconds", EPOCH, buckets),
                    )
                done.buckets[res.name] = len(buckets)
                done.seconds[res.name] = time.perf_counter() - started
        return done

    async def drain(self, conn: psycopg.AsyncConnection, upto: datetime | None = EVERYTHING) -> Rolled:
        """One pass up to `upto` (None: the watermark) with no quiet period, waiting while another
        runner's pass holds the lock."""
        while not (done := await self.run(conn, upto, timedelta(0))).ran:
            await asyncio.sleep(0.05)
        return done

    async def _take(
        self,
        conn: psycopg.AsyncConnection,
        res: Resolution,
        watermark: datetime,
        quiet: timedelta,
        done: Rolled,
        archived: datetime | None,
    ) -> list[datetime]:
        """Lock and remove `res`'s closed pending buckets; return those to recompute, in order."""
        cur = await conn.execute(
            "SELECT bucket FROM metric_rollup_pending WHERE res = %s AND bucket + %s::interval <= %s "
            "AND touched_at <= now() - %s::interval ORDER BY bucket FOR UPDATE",
            (res.name, res.bucket, watermark, quiet),
        )
        buckets = [r[0] for r in await cur.fetchall()]
        if not buckets:
            return []
        await conn.execute(
            "DELETE FROM metric_rollup_pending WHERE res = %s AND bucket = ANY(%s)", (res.name, buckets)
        )
        if res is not ROLLUPS[0] or self.raw_retention is None:
            return buckets
        horizon = datetime.now(buckets[0].tzinfo) - self.raw_retention
        if archived is not None:
            horizon = min(horizon, archived)
        old = [b for b in buckets if b < horizon]
        if not old:
            return buckets
        cur = await conn.execute(
            "SELECT DISTINCT bucket FROM metric_rollup_1m WHERE bucket = ANY(%s)", (old,)
        )
        stale = {r[0] for r in await cur.fetchall()}
        if stale:
            done.skipped += len(stale)
            log.warning(
                "metric rollups: %d pending 1-minute bucket(s) older than the raw retention kept as they "
                "were (earliest %s): their raw samples may be gone",
                len(stale),
                min(stale).isoformat(),
            )
        return [b for b in buckets if b not in stale]


def split_at(
    lo: datetime,
    hi: datetime,
    archived: datetime | None,
    below: sql.Composed,
    above: sql.Composed | None,
) -> list[tuple[datetime, datetime, sql.Composed | None]]:
    """[lo, hi) cut at the archived point: (lo, hi, the statement computing that part)."""
    if archived is None or archived <= lo:
        return [(lo, hi, above)]
    if archived >= hi:
        return [(lo, hi, below)]
    return [(lo, archived, below), (archived, hi, above)]


async def _recompute(
    conn: psycopg.AsyncConnection, res: Resolution, statement: sql.Composed | None, lo: datetime, hi: datetime
) -> None:
    """Replace `res`'s rows in [lo, hi) by `statement`'s (None: nothing to store there)."""
    if statement is None:
        return
    await conn.execute(delete_statement(res), (lo, hi))
    await conn.execute(statement, (lo, hi))
