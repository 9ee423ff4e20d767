"""The metrics mapper: series ids, partitions to ensure, rows, pending buckets, and the rollup job's
statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from ems.projections.metrics import (
    EPOCH,
    RAW,
    ROLLUPS,
    MetricsProjection,
    floor_time,
    series_id,
)
from ems.projections.metrics_rollup import pending_cut, ranges, recompute_statement, split_at
from ems.schemas.observation import EventBody, MetricSample, MetricsBody, Observation

T0 = datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC)


def _obs(*samples: MetricSample, asset: str | None = "r1") -> Observation:
    return Observation(source="nms", asset_id=asset, occurred_at=T0, body=MetricsBody(samples=list(samples)))


def test_series_id_is_stable_signed_64_bit_and_ignores_label_order() -> None:
    a = series_id("r1", "ifInOctets", {"interface": "eth0", "dir": "in"})
    assert a == series_id("r1", "ifInOctets", {"dir": "in", "interface": "eth0"})
    assert -(2**63) <= a < 2**63
    assert a != series_id("r1", "ifInOctets", {"interface": "eth1", "dir": "in"})
    assert a != series_id("r2", "ifInOctets", {"interface": "eth0", "dir": "in"})


@given(st.datetimes(min_value=datetime(2000, 1, 3), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_floor_time_is_aligned_and_at_most_one_width_back(at: datetime) -> None:
    for width in (timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=1), timedelta(hours=168)):
        low = floor_time(at, width)
        assert (low - EPOCH) % width == timedelta(0)
        assert low <= at < low + width


def test_rows_partitions_per_day_samples_and_each_series_once() -> None:
    p = MetricsProjection()
    later = T0 + timedelta(minutes=1)
    obs = _obs(
        MetricSample(name="cpu", value=0.5),  # no time: the observation's
        MetricSample(name="ifInOctets", value=7.0, labels={"interface": "eth0"}, at=later),
        MetricSample(name="ifInOctets", value=9.0, labels={"interface": "eth0"}, at=T0),
        MetricSample(name="ifInOctets", value=8.0, labels={"interface": "eth0"}, at=later),
    )
    rows = [(u.table, row) for u, row in p.rows(obs)]
    sid, cpu = series_id("r1", "ifInOctets", {"interface": "eth0"}), series_id("r1", "cpu", {})
    assert [r for t, r in rows if t == "metric_partitions"] == [
        (datetime(2026, 11, 27, tzinfo=UTC),),
        (datetime(2026, 11, 28, tzinfo=UTC),),  # the next day's partitions, once
    ]
    assert [r for t, r in rows if t == "metric_samples"] == [
        (cpu, T0, 0.5),
        (sid, later, 7.0),
        (sid, T0, 9.0),
        (sid, later, 8.0),
    ]
    series = [(r[0], r[1], r[2], orjson.loads(r[3])) for t, r in rows if t == "metric_series"]
    assert series == [(cpu, "r1", "cpu", {}), (sid, "r1", "ifInOctets", {"interface": "eth0"})]
    # each 1-minute bucket the samples fall in, once per instant, for the rollup job
    assert [r for t, r in rows if t == "metric_rollup_pending"] == [
        ("1m", datetime(2026, 11, 27, 23, 59, tzinfo=UTC)),
        ("1m", datetime(2026, 11, 28, 0, 0, tzinfo=UTC)),
    ]


def test_asset_defaults_to_source_and_naive_times_are_utc() -> None:
    naive = datetime(2026, 1, 1, 12, 0)
    rows = {
        u.table: row
        for u, row in MetricsProjection().rows(_obs(MetricSample(name="m", value=1, at=naive), asset=None))
    }
    assert rows["metric_series"][1] == "nms"
    assert rows["metric_samples"][1] == naive.replace(tzinfo=UTC)


def test_other_bodies_give_no_rows() -> None:
    obs = Observation(source="nms", asset_id="r1", body=EventBody(event="Down", severity="critical"))
    assert list(MetricsProjection().rows(obs)) == []


def test_collapse_keeps_first_sample_per_series_time_and_one_row_per_series() -> None:
    p = MetricsProjection()
    sid = series_id("r1", "m", {})
    samples = p.samples.collapse([(sid, T0, 1.0), (sid, T0, 2.0), (sid, T0 + timedelta(seconds=1), 3.0)])
    assert samples == [(sid, T0, 1.0), (sid, T0 + timedelta(seconds=1), 3.0)]
    assert p.series.collapse([(sid, "r1", "m", "{}"), (sid, "r1", "m", "{}")]) == [(sid, "r1", "m", "{}")]


def test_samples_are_copied_straight_in_with_the_conflict_path_behind() -> None:
    samples = MetricsProjection().samples
    assert samples.direct
    assert (
        samples.direct_copy().as_string(None)
        == 'COPY "metric_samples" ("series_id", "ts", "value") FROM STDIN (FORMAT BINARY)'
    )
    assert samples.copy_types == ("int8", "timestamptz", "float8")
    assert samples.statement().as_string(None).endswith('ON CONFLICT ("series_id", "ts") DO NOTHING')


def test_series_are_staged_with_labels_as_text_for_the_binary_copy() -> None:
    series = MetricsProjection().series
    create, copy, insert = (q.as_string(None) for q in series.stage_statements())
    assert "labels text" in create and copy.endswith("FROM STDIN (FORMAT BINARY)")
    assert "labels::jsonb" in insert and "WHERE NOT EXISTS (SELECT 1 FROM metric_series m" in insert
    assert insert.endswith('ON CONFLICT ("series_id") DO NOTHING')  # stored once, never rewritten
    assert len(series.copy_types) == len(series.columns)


def test_pending_buckets_lock_their_rows_in_bucket_order() -> None:
    pending = MetricsProjection().pending
    late, early = ("1m", T0), ("1m", T0 - timedelta(minutes=3))
    assert pending.collapse([late, early, late]) == [early, late]
    assert pending.statement().as_string(None).endswith("DO UPDATE SET touched_at = now()")


def test_ranges_join_consecutive_buckets() -> None:
    m = timedelta(minutes=1)
    assert ranges([T0, T0 + m, T0 + 3 * m], m) == [(T0, T0 + 2 * m), (T0 + 3 * m, T0 + 4 * m)]
    assert ranges([], m) == []


def test_recompute_statements_aggregate_the_finer_resolution() -> None:
    one = recompute_statement(ROLLUPS[0], RAW).as_string(None)
    assert 'INSERT INTO "metric_rollup_1m"' in one and 'FROM "metric_samples"' in one
    assert "date_bin('60 seconds'::interval, \"ts\", '2000-01-03T00:00:00+00:00'::timestamptz)" in one
    assert "count(*), sum(value::numeric), min(value), max(value)" in one
    assert '"ts" >= %s AND "ts" < %s' in one
    five = recompute_statement(ROLLUPS[1], ROLLUPS[0]).as_string(None)
    assert 'INSERT INTO "metric_rollup_5m"' in five and 'FROM "metric_rollup_1m"' in five
    assert "sum(count), sum(sum), min(min), max(max), (array_agg(last ORDER BY last_ts DESC))[1]" in five


def test_a_range_is_cut_at_the_archived_point() -> None:
    m, below, above = timedelta(minutes=1), sql.SQL("below"), sql.SQL("above")
    lo, hi = T0, T0 + 5 * m
    assert split_at(lo, hi, None, below, above) == [(lo, hi, above)]  # nothing archived yet
    assert split_at(lo, hi, lo, below, above) == [(lo, hi, above)]
    assert split_at(lo, hi, hi, below, above) == [(lo, hi, below)]
    assert split_at(lo, hi, lo + 2 * m, below, above) == [(lo, lo + 2 * m, below), (lo + 2 * m, hi, above)]


def test_the_1m_cut_is_also_the_archived_point() -> None:
    one, five = pending_cut(ROLLUPS[0]).as_string(None), pending_cut(ROLLUPS[1]).as_string(None)
    assert "metric_rollup_archived" in one and "'-infinity'" in one
    assert "metric_rollup_archived" not in five  # 5m rows are complete from the raw samples


def test_partitions_upsert_calls_the_function() -> None:
    up = MetricsProjection().partitions
    assert up.statement().as_string(None) == "SELECT metric_partitions_for(%s)"
    create, copy, apply = (q.as_string(None) for q in up.stage_statements())
    assert "(at timestamptz)" in create and copy.startswith("COPY") and "metric_partitions_for(at)" in apply


def test_series_memo_holds_at_most_its_size_and_ids_stay_right_past_it() -> None:
    p = MetricsProjection(memo_size=2)
    obs = _obs(*(MetricSample(name="m", value=1, labels={"i": str(i), "a": "x"}) for i in range(5)))
    ids = [row[0] for u, row in p.rows(obs) if u is p.samples]
    assert ids == [series_id("r1", "m", {"a": "x", "i": str(i)}) for i in range(5)]
    assert sum(len(memo) for memo in p._ids.values()) <= 2
    other = _obs(MetricSample(name="m", value=1, labels={"a": "x", "i": "0"}))
    assert [row[0] for u, row in p.rows(other) if u is p.samples] == ids[:1]  # label order aside


def test_series_committed_in_the_session_are_not_sent_again_until_forgotten() -> None:
    p = MetricsProjection()
    obs = _obs(*(MetricSample(name="m", value=1, labels={"i": str(i)}) for i in range(3)))

    def series_rows() -> list:
        return [row for u, row in p.rows(obs) if u is p.series]

    first = series_rows()
    assert len(first) == 3
    assert len(series_rows()) == 3  # mapped, not committed (a batch rolled back): sent again
    p.committed([(p.series, first[0]), (p.samples, (first[1][0], None, 1.0))])
    assert [row[0] for row in series_rows()] == [first[1][0], first[2][0]]  # only the written one is known
    p.forget()  # a new database session
    assert series_rows() == first
