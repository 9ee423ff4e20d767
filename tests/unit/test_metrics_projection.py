"""The metrics mapper: series ids, partitions to ensure, rows, and the rollup statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given
from hypothesis import strategies as st

from ems.projections.metrics import (
    EPOCH,
    ROLLUPS,
    MetricsProjection,
    floor_time,
    rollup_statement,
    series_id,
)
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


def test_rows_partitions_per_day_samples_and_the_newest_sample_per_series() -> None:
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
    series = [(r[0], r[1], r[2], orjson.loads(r[3]), r[4], r[5]) for t, r in rows if t == "metric_series"]
    assert series == [
        (cpu, "r1", "cpu", {}, T0, 0.5),
        (sid, "r1", "ifInOctets", {"interface": "eth0"}, later, 7.0),  # newest; first on a tie
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


def test_collapse_keeps_first_sample_per_series_time_and_latest_per_series() -> None:
    p = MetricsProjection()
    sid = series_id("r1", "m", {})
    samples = p.samples.collapse([(sid, T0, 1.0), (sid, T0, 2.0), (sid, T0 + timedelta(seconds=1), 3.0)])
    assert samples == [(sid, T0, 1.0), (sid, T0 + timedelta(seconds=1), 3.0)]
    later = (sid, "r1", "m", {}, T0 + timedelta(seconds=1), 3.0)
    assert p.series.collapse([(sid, "r1", "m", {}, T0, 1.0), later]) == [later]


def test_sample_statement_feeds_every_rollup_from_the_inserted_rows() -> None:
    text = MetricsProjection().samples.statement().as_string(None)
    assert text.startswith('WITH ins AS (INSERT INTO "metric_samples"')
    assert 'ON CONFLICT ("series_id", "ts") DO NOTHING RETURNING series_id, ts, value' in text
    for res in ROLLUPS:
        assert f'INSERT INTO "{res.table}" AS t' in text
    staged = MetricsProjection().samples.stage_statements()[2].as_string(None)
    assert 'SELECT "series_id", "ts", "value" FROM "stage_metric_samples"' in staged and "ins" in staged


def test_rollup_merge_rules() -> None:
    text = rollup_statement(ROLLUPS[1]).as_string(None)
    assert "date_bin('300 seconds'::interval, ts, '2000-01-03T00:00:00+00:00'::timestamptz)" in text
    for rule in (
        "count = t.count + EXCLUDED.count",
        "sum = t.sum + EXCLUDED.sum",
        "min = least(t.min, EXCLUDED.min)",
        "max = greatest(t.max, EXCLUDED.max)",
        "last = CASE WHEN EXCLUDED.last_ts > t.last_ts THEN EXCLUDED.last ELSE t.last END",
    ):
        assert rule in text


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
    assert len(p._ids) <= 2


def test_series_upsert_moves_only_the_latest_sample_of_a_stored_series() -> None:
    text = MetricsProjection().series.stage_statements()[2].as_string(None)
    assert text.endswith(
        "ON CONFLICT (series_id) DO UPDATE SET last_ts = EXCLUDED.last_ts, last_value = EXCLUDED.last_value "
        "WHERE metric_series.last_ts < EXCLUDED.last_ts"
    )
