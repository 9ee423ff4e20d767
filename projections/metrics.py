"""The metric time-series store: metric observations -> series, raw samples and pending rollup buckets.

Tables (infra/migrations/004_metrics.sql, 028), written in the runner's one batch transaction:
- `metric_series`: one row per (asset, name, labels) with a deterministic 64-bit `series_id`, inserted
  once (its newest sample is the newest row of `metric_samples`);
- `metric_samples` (series_id, ts, value), partitioned by day; a sample already stored (same series and
  time) is ignored. A batch's samples are first copied straight into the table in a savepoint (one
  plain row each); only when that meets a stored sample does the batch take `ON CONFLICT DO NOTHING`;
- `metric_rollup_pending`: each 1-minute bucket the batch touched, for the rollup job
  (`ems.projections.metrics_rollup`), which the runner runs every second beside the batches (`maintain`).

Upserts run in declared order; the first one creates every partition the batch needs before any row is
written (see `metric_partitions_for` in the migration).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from sys import intern

import orjson
from psycopg import sql

from ems.projections.base import Row, Upsert
from ems.projections.metric_buckets import EPOCH, RAW, RESOLUTIONS, ROLLUPS, Resolution, floor_time
from ems.projections.metrics_records import MetricsRecord, from_observation, read_metrics
from ems.projections.metrics_rollup import Rolled, RollupJob
from ems.schemas.observation import Observation

RECHECK = 300.0  # seconds after which series committed before are sent again
DEFAULT_MEMO = 400_000  # series ids remembered: 10,000 devices x 38 series, with room
MINUTE = ROLLUPS[0].bucket
__all__ = [
    "EPOCH",
    "RAW",
    "RESOLUTIONS",
    "ROLLUPS",
    "MetricsProjection",
    "Resolution",
    "floor_time",
    "series_id",
]


def series_id(asset_id: str, name: str, labels: dict[str, str]) -> int:
    """A stable signed 64-bit id of a series (blake2b of its identity; labels order-free)."""
    ident = orjson.dumps([asset_id, name, labels], option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.blake2b(ident, digest_size=8).digest(), "big", signed=True)


class PartitionsUpsert(Upsert):
    """Not a table: rows are instants, each applied as `SELECT metric_partitions_for(instant)`."""

    def statement(self) -> sql.Composed:
        return sql.SQL("SELECT metric_partitions_for(%s)").format()

    def stage_statements(self) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
        stage = sql.Identifier(self.stage)
        return (
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (at timestamptz) ON COMMIT DELETE ROWS").format(
                stage
            ),
            sql.SQL("COPY {} (at) FROM STDIN").format(stage),
            sql.SQL("SELECT metric_partitions_for(at) FROM {}").format(stage),
        )


class SamplesUpsert(Upsert):
    """The raw sample insert: first row per (series, ts) wins; copied straight in when all are new."""

    def collapse(self, rows: Sequence[Row]) -> list[Row]:
        """First row per (series_id, ts), as `Upsert.collapse` but without its generic key building."""
        best: dict[Row, Row] = {}
        for row in rows:
            best.setdefault((row[0], row[1]), row)
        return list(best.values())


class PendingUpsert(Upsert):
    """A 1-minute bucket for the rollup job, stamped with when it was last touched. The `DO UPDATE`
    also takes the row lock, so the job cannot take the bucket while this batch's samples are
    uncommitted; rows go in bucket order, the order the job locks them in."""

    def collapse(self, rows: Sequence[Row]) -> list[Row]:
        return sorted(set(rows))

    def _insert(self, source: sql.Composable) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO metric_rollup_pending (res, bucket) {} ON CONFLICT (res, bucket) "
            "DO UPDATE SET touched_at = now()"
        ).format(source)


class SeriesUpsert(Upsert):
    """The series row: its identity only (what its id hashes, so it never changes), inserted once
    (`DO NOTHING`: a stored series costs an index probe, no write). The newest sample is read from
    the samples (`/latest`), so polls no longer rewrite the row."""

    def stage_statements(self) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
        """Staged with the labels as text (the mapper's JSON text; cast once in the INSERT), so the
        binary COPY needs no JSON dumper."""
        stage = sql.Identifier(self.stage)
        create = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (series_id bigint, asset_id text, name text, labels text) "
            "ON COMMIT DELETE ROWS"
        ).format(stage)
        copy = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(stage)
        select = sql.SQL(
            "SELECT series_id, asset_id, name, labels::jsonb FROM {} st "
            "WHERE NOT EXISTS (SELECT 1 FROM metric_series m WHERE m.series_id = st.series_id)"
        ).format(stage)
        return create, copy, self._insert(select)


class MetricsProjection:
    """Observation(kind=metrics) -> partitions to ensure, series rows and sample rows.

    `decode` reads a record without re-validating it (`ems.projections.metrics_records`). The series
    memo maps a series' identity to its id and labels JSON; sized to the fleet (`memo_size`, setting
    `EMS_METRIC_SERIES_MEMO`) it is filled once, about 240 bytes a series (docs/design.md).
    """

    name = "metrics"
    topic = "metrics"
    record_type = Observation
    partitions = PartitionsUpsert("metric_partitions", ("at",), conflict=("at",))
    series = SeriesUpsert(
        "metric_series",
        ("series_id", "asset_id", "name", "labels"),
        conflict=("series_id",),
        copy_types=("int8", "text", "text", "text"),
    )
    samples = SamplesUpsert(
        "metric_samples",
        ("series_id", "ts", "value"),
        conflict=("series_id", "ts"),
        direct=True,
        copy_types=("int8", "timestamptz", "float8"),
    )
    pending = PendingUpsert("metric_rollup_pending", ("res", "bucket"), conflict=("res", "bucket"))
    upserts = (partitions, series, samples, pending)  # order matters: partitions first, pending last
    decode = staticmethod(read_metrics)

    def __init__(self, memo_size: int = DEFAULT_MEMO, rollups: RollupJob | None = None) -> None:
        self.memo_size = memo_size
        self.rollups = rollups or RollupJob()
        self._ids: dict[str, dict[object, tuple[int, str]]] = {}  # asset -> its series memo (pure)
        self._size = 0  # series in the memo
        self._stored: set[int] = set()  # series committed in the runner's current session
        self._stored_since = time.monotonic()

    maintain_every = 1.0  # seconds between the runner's calls of `maintain`

    async def maintain(self, conn, final: bool = False) -> Rolled:
        """The runner's periodic hook: one pass of the rollup job (`final`, at the end of a rebuild:
        without the quiet period, every bucket the watermark closed)."""
        return await (self.rollups.drain(conn, upto=None) if final else self.rollups.run(conn))

    # The runner's hooks (ems.projections.runner): a series row is insert-once (`DO NOTHING` on its
    # id), so one committed in this session need not be sent again (it was ~15 % of a batch: the
    # rows, their staging COPY and the anti-join). What is taken as stored is forgotten with each new
    # session and every RECHECK seconds, so a table emptied by hand gets its series back.

    def committed(self, rows: Iterable[tuple[Upsert, Row]]) -> None:
        """A batch committed with all of `rows` written: its series are stored."""
        if time.monotonic() - self._stored_since > RECHECK or len(self._stored) > self.memo_size:
            self.forget()
            return
        series = self.series
        self._stored.update(row[0] for upsert, row in rows if upsert is series)

    def forget(self) -> None:
        """No series taken as stored (a new database session, or time to look again)."""
        self._stored.clear()
        self._stored_since = time.monotonic()

    def _memo_of(self, asset: str) -> dict[object, tuple[int, str]]:
        """The memo of one asset's series: (name, sorted label items) or the bare name -> id, labels
        JSON. Per asset, so a poll's lookups stay in one small dict (one flat dict of a fleet's
        400,000 series cost ~2 us a sample in cache misses)."""
        inner = self._ids.get(asset)
        if inner is None:
            inner = self._ids[intern(asset)] = {}
        return inner

    def _remember(
        self, inner: dict, key: object, asset: str, name: str, labels: dict[str, str]
    ) -> tuple[int, str]:
        """A series not in the memo: its id and labels JSON, remembered (the memo emptied when full)."""
        if self._size >= self.memo_size:
            self._ids.clear()
            inner.clear()
            self._ids[intern(asset)] = inner
            self._size = 0
        # Interned: the fleet's series share their names and labels.
        if type(key) is tuple:
            key = (intern(name), *((intern(k), intern(v)) for k, v in key[1:]))
        else:
            key = intern(name)
        self._size += 1
        found = inner[key] = (series_id(asset, name, labels), intern(orjson.dumps(labels).decode()))
        return found

    def rows(self, record: MetricsRecord | Observation) -> Iterable[tuple[Upsert, Row]]:
        """The rows of one record: its days' partitions, each sample, each series (once, and not
        when committed before in this session) and each 1-minute bucket its samples fall in
        (pending for the rollup job)."""
        if isinstance(record, Observation):
            record = from_observation(record)
        asset, samples, series = record.key, self.samples, self.series
        memo = self._memo_of(asset)
        stored = self._stored
        days: set[date] = set()
        seen: set[datetime] = set()  # a poll's samples share a few instants
        known: set[int] = set()
        for name, value, labels, at in record.samples:
            key = (name, *sorted(labels.items())) if labels else name
            found = memo.get(key)
            if found is None:
                found = self._remember(memo, key, asset, name, labels)
            sid, text = found
            if at not in seen:
                seen.add(at)
                day = at.date()
                if day not in days:
                    days.add(day)
                    yield self.partitions, (datetime(day.year, day.month, day.day, tzinfo=UTC),)
                yield self.pending, ("1m", floor_time(at, MINUTE))
            if sid not in known and sid not in stored:
                known.add(sid)
                yield series, (sid, asset, name, text)
            yield samples, (sid, at, value)
