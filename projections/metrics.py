"""The metric time-series store: metric observations -> series, raw samples and 1m/5m/1h rollups.

Tables (infra/migrations/004_metrics.sql), all written in the runner's one batch transaction:
- `metric_series`: one row per (asset, name, labels) with a deterministic 64-bit `series_id` and the
  latest sample (a versioned upsert on `last_ts`, so replays and redeliveries keep the newest);
- `metric_samples` (series_id, ts, value), partitioned by day; a sample already stored (same series and
  time) is ignored (`ON CONFLICT DO NOTHING`);
- `metric_rollup_{1m,5m,1h}` (count, sum, min, max, last): maintained from the rows the sample insert
  *actually inserted* (its `RETURNING` feeds the rollup upserts in the same statement), merged into the
  stored bucket. A redelivered batch is excluded by the checkpoint guard, and a sample published twice
  (a normalize redelivery at new offsets) is not inserted twice, so it is not counted twice either.

Upserts run in declared order; the first one creates every partition the batch needs before any row is
written (see `metric_partitions_for` in the migration).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from sys import intern

import orjson
from psycopg import sql

from ems.projections.base import Row, Upsert
from ems.projections.metrics_records import MetricsRecord, from_observation, read_metrics
from ems.schemas.observation import Observation

EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday; every bucket and partition is aligned to it
DEFAULT_MEMO = 400_000  # series ids remembered: 10,000 devices x 38 series, with room


@dataclass(frozen=True)
class Resolution:
    """One stored resolution: its table, bucket width and partition span."""

    name: str
    table: str
    bucket: timedelta | None  # None: raw samples
    span: timedelta  # partition width (must match metric_partitions_for)

    @property
    def seconds(self) -> int:
        return int(self.bucket.total_seconds()) if self.bucket else 0


RAW = Resolution("raw", "metric_samples", None, timedelta(hours=24))
ROLLUPS = (
    Resolution("1m", "metric_rollup_1m", timedelta(minutes=1), timedelta(hours=24)),
    Resolution("5m", "metric_rollup_5m", timedelta(minutes=5), timedelta(hours=168)),
    Resolution("1h", "metric_rollup_1h", timedelta(hours=1), timedelta(hours=720)),
)
RESOLUTIONS = (RAW, *ROLLUPS)


def floor_time(at: datetime, width: timedelta) -> datetime:
    """`at` rounded down to a multiple of `width` since EPOCH (PostgreSQL's date_bin)."""
    return at - (at - EPOCH) % width


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


def rollup_statement(res: Resolution, source: str = "ins") -> sql.Composed:
    """Upsert of `source`'s (series_id, ts, value) rows, aggregated per bucket, merged into `res`."""
    return sql.SQL(
        "INSERT INTO {table} AS t (series_id, bucket, count, sum, min, max, last, last_ts) "
        "SELECT series_id, date_bin({width}::interval, ts, {epoch}::timestamptz), count(*), "
        "sum(value::numeric), min(value), max(value), (array_agg(value ORDER BY ts DESC))[1], max(ts) "
        "FROM {source} GROUP BY 1, 2 "
        "ON CONFLICT (series_id, bucket) DO UPDATE SET count = t.count + EXCLUDED.count, "
        "sum = t.sum + EXCLUDED.sum, min = least(t.min, EXCLUDED.min), max = greatest(t.max, EXCLUDED.max), "
        "last = CASE WHEN EXCLUDED.last_ts > t.last_ts THEN EXCLUDED.last ELSE t.last END, "
        "last_ts = greatest(t.last_ts, EXCLUDED.last_ts)"
    ).format(
        table=sql.Identifier(res.table),
        width=sql.Literal(f"{res.seconds} seconds"),
        epoch=sql.Literal(EPOCH.isoformat()),
        source=sql.Identifier(source),
    )


class SamplesUpsert(Upsert):
    """The raw sample insert (first row per (series, ts) wins) feeding every rollup in one statement."""

    def collapse(self, rows: Sequence[Row]) -> list[Row]:
        """First row per (series_id, ts), as `Upsert.collapse` but without its generic key building."""
        best: dict[Row, Row] = {}
        for row in rows:
            best.setdefault((row[0], row[1]), row)
        return list(best.values())

    def _insert(self, source: sql.Composable) -> sql.Composed:
        insert = super()._insert(source) + sql.SQL(" RETURNING series_id, ts, value")
        parts = [sql.SQL("WITH ins AS ({})").format(insert)]
        parts += [
            sql.SQL(", {} AS ({})").format(sql.Identifier(f"r_{r.name}"), rollup_statement(r))
            for r in ROLLUPS[:-1]
        ]
        parts.append(sql.SQL(" ") + rollup_statement(ROLLUPS[-1]))
        return sql.Composed(parts)


class SeriesUpsert(Upsert):
    """The series row, versioned by `last_ts`; a stored series gets only its latest sample (its
    identity is what its id hashes, so it never changes), which PostgreSQL can do as a HOT update
    (migration 027)."""

    def _insert(self, source: sql.Composable) -> sql.Composed:
        head = sql.SQL("INSERT INTO metric_series ({}) {} ON CONFLICT (series_id) ").format(
            sql.SQL(", ").join(map(sql.Identifier, self.columns)), source
        )
        return head + sql.SQL(
            "DO UPDATE SET last_ts = EXCLUDED.last_ts, last_value = EXCLUDED.last_value "
            "WHERE metric_series.last_ts < EXCLUDED.last_ts"
        )


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
        ("series_id", "asset_id", "name", "labels", "last_ts", "last_value"),
        conflict=("series_id",),
        version="last_ts",
    )
    samples = SamplesUpsert("metric_samples", ("series_id", "ts", "value"), conflict=("series_id", "ts"))
    upserts = (partitions, series, samples)  # order matters: partitions first
    decode = staticmethod(read_metrics)

    def __init__(self, memo_size: int = DEFAULT_MEMO) -> None:
        self.memo_size = memo_size
        self._ids: dict[tuple, tuple[int, str]] = {}  # memo of series identities (pure)

    def _series(self, asset: str, name: str, labels: dict[str, str]) -> tuple[int, str]:
        items = labels.items() if len(labels) < 2 else sorted(labels.items())
        found = self._ids.get((asset, name, *items))
        if found is None:
            if len(self._ids) >= self.memo_size:
                self._ids.clear()
            # Interned: the fleet's series share their names, labels and each device's asset id.
            key = (intern(asset), intern(name), *((intern(k), intern(v)) for k, v in items))
            text = intern(orjson.dumps(labels).decode())
            found = self._ids[key] = (series_id(asset, name, labels), text)
        return found

    def rows(self, record: MetricsRecord | Observation) -> Iterable[tuple[Upsert, Row]]:
        """The rows of one record: its days' partitions, each sample, each series' newest sample."""
        if isinstance(record, Observation):
            record = from_observation(record)
        asset, samples, series, memo = record.key, self.samples, self.series, self._series
        days: set[date] = set()
        latest: dict[int, Row] = {}  # per series, the newest sample of this record (first on a tie)
        for name, value, labels, at in record.samples:
            sid, text = memo(asset, name, labels)
            day = at.date()
            if day not in days:
                days.add(day)
                yield self.partitions, (datetime(day.year, day.month, day.day, tzinfo=UTC),)
            kept = latest.get(sid)
            if kept is None or at > kept[4]:
                latest[sid] = (sid, asset, name, text, at, value)
            yield samples, (sid, at, value)
        for row in latest.values():
            yield series, row
