"""Metric queries on the real PostgreSQL while rollups lag: rollup rows are read only below the earliest
pending bucket (of the resolution or a finer one; for 1m also below the archived point), raw samples
from there on, and every answer equals the one computed from the raw samples alone.

Each scenario writes samples, correct rollup rows below each resolution's cut, deliberately wrong
(stale) rows at and after it, and the pending rows that make that cut. Before a query runs, the raw
samples below its cut are deleted: a query reading raw samples where it should read rollups would miss
them, one reading rollups where it should read raw samples would get the stale rows."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ems.api.series import Query, parse_step, series_query, top_query
from ems.infra.migrate import migrate
from ems.projections.metrics import EPOCH, ROLLUPS, floor_time, series_id

SCHEMA = "metric_queries_cut"
T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
END = T0 + timedelta(hours=2)
ASSETS = ("a0", "a1", "a2")
RES = {r.name: r for r in ROLLUPS}
Sample = tuple[int, datetime, float]


def _samples(seed: int = 7) -> tuple[dict[int, tuple[str, dict[str, str]]], list[Sample]]:
    """3 assets x 2 series of metric `m`, a sample every 20 s over [T0, END) with random gaps."""
    rng = random.Random(seed)
    series, samples = {}, []
    for asset in ASSETS:
        for i in ("0", "1"):
            sid = series_id(asset, "m", {"i": i})
            series[sid] = (asset, {"i": i})
            at = T0
            while at < END:
                if rng.random() < 0.8:
                    samples.append((sid, at, rng.randrange(-400, 4000) / 4))
                at += timedelta(seconds=20)
    return series, samples


SERIES, SAMPLES = _samples()


@pytest.fixture(scope="module")
def url(servers: dict[str, str]) -> str:
    url = servers["EMS_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    migrate(url, SCHEMA)
    return url


@pytest.fixture
def conn(url: str) -> Iterator[psycopg.Connection]:
    """The migrated schema holding SERIES and SAMPLES, and no rollup or pending row yet."""
    with psycopg.connect(url, options=f"-c search_path={SCHEMA}", autocommit=True, row_factory=dict_row) as c:
        for table in (
            "metric_series",
            "metric_samples",
            "metric_rollup_pending",
            "metric_rollup_archived",
            *(r.table for r in ROLLUPS),
        ):
            c.execute(f"DELETE FROM {table}")
        c.execute("SELECT metric_partitions_for(%s)", (T0,))
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO metric_series VALUES (%s, %s, 'm', %s)",
                [(sid, asset, Jsonb(labels)) for sid, (asset, labels) in SERIES.items()],
            )
            with cur.copy("COPY metric_samples (series_id, ts, value) FROM STDIN") as copy:
                for row in SAMPLES:
                    copy.write_row(row)
        yield c


def _materialize(
    conn: psycopg.Connection, cuts: dict[str, datetime], pending: list[tuple[str, datetime]]
) -> None:
    """Correct rollup rows below each resolution's cut, stale ones for half an hour from it (none
    after), and the pending rows; 1m rows archived up to 1m's cut (`ems metrics retention`)."""
    for name, cut in cuts.items():
        res = RES[name]
        conn.execute(
            f"INSERT INTO {res.table} SELECT series_id, date_bin(%s, ts, %s), count(*), sum(value::numeric), "
            "min(value), max(value), (array_agg(value ORDER BY ts DESC))[1], max(ts) "
            "FROM metric_samples WHERE ts < %s GROUP BY 1, 2",
            (res.bucket, EPOCH, cut),
        )
        stale = [
            (sid, cut + k * res.bucket, 1000, 10**6, -(10**6), 10**6, 0, cut)
            for sid in SERIES
            for k in range(max(1, timedelta(minutes=30) // res.bucket))
            if cut + k * res.bucket < END
        ]
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {res.table} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", stale)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO metric_rollup_pending VALUES (%s, %s)", pending)
    if "1m" in cuts:
        conn.execute("INSERT INTO metric_rollup_archived VALUES (1, %s)", (cuts["1m"],))
    conn.execute("ANALYZE")


def _in(res_bucket: timedelta, start: datetime, end: datetime) -> list[Sample]:
    """The samples fully materialized rollups of that width would cover for [start, end)."""
    return [s for s in SAMPLES if start <= floor_time(s[1], res_bucket) < end]


def _expected_series(asset: str, step: timedelta, start: datetime, end: datetime, width: timedelta) -> list:
    groups: dict[tuple[int, datetime], list[float]] = {}
    for sid, at, value in _in(width, start, end):
        if SERIES[sid][0] == asset:
            groups.setdefault((sid, floor_time(at, step)), []).append(value)
    return [
        (sid, SERIES[sid][1], t, _avg(values), min(values), max(values), len(values))
        for (sid, t), values in sorted(groups.items())
    ]


def _expected_top(width: timedelta, start: datetime, end: datetime, agg: str, n: int) -> list:
    groups: dict[str, list[float]] = {}
    for sid, _, value in _in(width, start, end):
        groups.setdefault(SERIES[sid][0], []).append(value)
    rows = [(asset, _avg(v), max(v), len(v)) for asset, v in groups.items()]
    key = 1 if agg == "avg" else 2
    return sorted(rows, key=lambda r: (-r[key], r[0]))[:n]


def _avg(values: list[float]) -> float:
    return float(sum(Decimal(str(v)) for v in values) / len(values))


def _run(conn: psycopg.Connection, query: Query) -> list[dict]:
    return conn.execute(query.text, query.params).fetchall()


def _check_series(conn: psycopg.Connection, step: str, start: datetime = T0, end: datetime = END) -> None:
    for asset in ASSETS:
        res, query = series_query(asset, "m", {}, start, end, parse_step(step))
        got = [tuple(r.values()) for r in _run(conn, query)]
        want = _expected_series(asset, parse_step(step), start, end, res.bucket)
        assert [g[:3] + g[4:] for g in got] == [w[:3] + w[4:] for w in want], (step, asset)
        assert [g[3] for g in got] == pytest.approx([w[3] for w in want], rel=1e-12), (step, asset)


def _check_top(conn: psycopg.Connection, start: datetime, end: datetime, name: str) -> None:
    for agg, n in (("avg", 3), ("max", 2)):
        res, query = top_query("m", {}, start, end, n, agg)
        assert res.name == name
        got = [tuple(r.values()) for r in _run(conn, query)]
        want = _expected_top(res.bucket, start, end, agg, n)
        assert [(g[0], g[2], g[3]) for g in got] == [(w[0], w[2], w[3]) for w in want], agg
        assert [g[1] for g in got] == pytest.approx([w[1] for w in want], rel=1e-12), agg


def _check_by_cut(conn: psycopg.Connection, checks: list[tuple[datetime, Callable[[], None]]]) -> None:
    """Every check with all raw samples (no double counting below a cut), then each again once the
    samples below its cut are gone (no raw sample read there instead of a rollup row)."""
    for _, check in checks:
        check()
    for cut, check in sorted(checks, key=lambda c: c[0]):
        conn.execute("DELETE FROM metric_samples WHERE ts < %s", (cut,))
        check()


def test_rollups_below_the_cut_and_raw_samples_from_it(conn) -> None:
    """1m recomputed up to 11:06, its 5m buckets 11:00 and 11:05 pending, 1h 10:00 recomputed."""
    at = T0 + timedelta(hours=1)  # 11:00
    pending = [("1m", at + timedelta(minutes=m)) for m in range(7, 60)]
    pending += [("5m", at), ("5m", at + timedelta(minutes=5))]
    cuts = {"1m": at + timedelta(minutes=7), "5m": at, "1h": at}
    _materialize(conn, cuts, pending)
    unaligned = T0 + timedelta(minutes=2, seconds=30), END - timedelta(minutes=4)
    _check_by_cut(
        conn,
        [
            (cuts["5m"], lambda: _check_series(conn, "5m")),
            (cuts["5m"], lambda: _check_series(conn, "10m")),
            (cuts["5m"], lambda: _check_series(conn, "5m", *unaligned)),
            (cuts["5m"], lambda: _check_series(conn, "5m", at + timedelta(minutes=2, seconds=30), END)),
            (cuts["1h"], lambda: _check_series(conn, "1h")),
            (cuts["1h"], lambda: _check_top(conn, T0, END, "1h")),
            (
                cuts["5m"],
                lambda: _check_top(conn, T0 + timedelta(minutes=5), END - timedelta(minutes=5), "5m"),
            ),
            (cuts["1m"], lambda: _check_series(conn, "1m")),
            (cuts["1m"], lambda: _check_series(conn, "3m", T0 + timedelta(seconds=30), END)),
            (
                cuts["1m"],
                lambda: _check_top(conn, T0 + timedelta(minutes=3), END - timedelta(minutes=3), "1m"),
            ),
        ],
    )


def test_a_pending_minute_floors_the_cut_of_coarser_resolutions(conn) -> None:
    """Only 1m 11:47 pending (the job has not recomputed it yet, so it marked nothing coarser): the
    5m bucket 11:45 and the 1h bucket 11:00 holding it are not trusted either."""
    minute = T0 + timedelta(hours=1, minutes=47)
    cuts = {"1m": minute, "5m": minute - timedelta(minutes=2), "1h": T0 + timedelta(hours=1)}
    _materialize(conn, cuts, [("1m", minute)])
    _check_by_cut(
        conn,
        [
            (cuts["1h"], lambda: _check_series(conn, "1h")),
            (cuts["1h"], lambda: _check_top(conn, T0, END, "1h")),
            (cuts["5m"], lambda: _check_series(conn, "5m")),
            (cuts["5m"], lambda: _check_series(conn, "10m")),  # its bucket 11:40 holds rollups and raw
            (cuts["1m"], lambda: _check_series(conn, "1m")),
        ],
    )


def test_nothing_pending_reads_rollups_only(conn) -> None:
    _materialize(conn, {name: END for name in RES}, [])
    checks = [(END, lambda step=step: _check_series(conn, step)) for step in ("1m", "5m", "10m", "1h")]
    checks += [(END, lambda: _check_top(conn, T0, END, "1h"))]
    checks += [(END, lambda: _check_top(conn, T0 + timedelta(minutes=5), END, "5m"))]
    _check_by_cut(conn, checks)


def test_before_any_archive_1m_queries_read_raw_samples_only(conn) -> None:
    """No archived point yet: the raw samples are all kept, 1m rows there are not read (here made
    wrong) while 5m and 1h rows are."""
    _materialize(conn, {name: END for name in RES}, [])
    conn.execute("DELETE FROM metric_rollup_archived")
    conn.execute("UPDATE metric_rollup_1m SET count = count + 1, min = min - 1, max = max + 1")
    _check_series(conn, "1m")
    _check_series(conn, "3m", T0 + timedelta(seconds=30), END)
    _check_top(conn, T0 + timedelta(minutes=3), END - timedelta(minutes=3), "1m")
    _check_by_cut(
        conn, [(END, lambda: _check_series(conn, "5m")), (END, lambda: _check_top(conn, T0, END, "1h"))]
    )
