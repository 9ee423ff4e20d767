"""Metric query parameters: steps, times, labels, and which resolution serves them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ems.api.errors import ApiError
from ems.api.series import (
    labels_of,
    parse_step,
    parse_time,
    resolution_for_range,
    resolution_for_step,
    series_query,
    time_range,
    top_query,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _reason(fn, *args) -> str:
    with pytest.raises(ApiError) as exc:
        fn(*args)
    assert exc.value.status == 400
    return exc.value.reason


def test_steps() -> None:
    assert parse_step("30s") == timedelta(seconds=30)
    assert parse_step("15m") == timedelta(minutes=15)
    assert parse_step("1d") == timedelta(days=1)
    for bad in ("", "5", "0m", "5x", "-1m", "1.5h", "m"):
        assert "step must be" in _reason(parse_step, bad)


def test_step_picks_the_coarsest_rollup_dividing_it() -> None:
    pick = {
        s: resolution_for_step(parse_step(s)).name
        for s in ("30s", "90s", "1m", "3m", "5m", "15m", "1h", "1d")
    }
    assert pick == {
        "30s": "raw",
        "90s": "raw",
        "1m": "1m",
        "3m": "1m",
        "5m": "5m",
        "15m": "5m",
        "1h": "1h",
        "1d": "1h",
    }
    assert resolution_for_step(None).name == "raw"


def test_range_picks_the_coarsest_rollup_tiling_it() -> None:
    hour = datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert resolution_for_range(hour, hour + timedelta(hours=3)).name == "1h"
    assert resolution_for_range(hour + timedelta(minutes=5), hour + timedelta(hours=3)).name == "5m"
    assert resolution_for_range(hour + timedelta(minutes=2), hour + timedelta(hours=3)).name == "1m"
    assert resolution_for_range(hour + timedelta(seconds=1), hour + timedelta(hours=3)).name == "raw"


def test_times() -> None:
    assert parse_time("2026-11-27T10:00:00Z", "from") == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_time("2026-11-27T10:00:00", "from") == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_time("2026-11-27T11:00:00+01:00", "from") == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_time("1764237600", "to") == datetime(2025, 11, 27, 10, tzinfo=UTC)
    assert "from must be an ISO-8601 time" in _reason(parse_time, "yesterday", "from")
    assert time_range({}, NOW, timedelta(hours=1)) == (NOW - timedelta(hours=1), NOW)
    reason = _reason(time_range, {"from": "2026-11-27T13:00:00Z"}, NOW, timedelta(hours=1))
    assert reason.startswith("from (2026-11-27T13:00:00+00:00) must be before to")


def test_labels_and_unknown_parameters() -> None:
    assert labels_of({"asset": "a", "label.interface": "eth0"}, {"asset"}) == {"interface": "eth0"}
    assert "unknown parameter 'stepp'" in _reason(labels_of, {"stepp": "5m"}, {"asset", "step"})
    assert "unknown parameter 'label.'" in _reason(labels_of, {"label.": "x"}, {"asset"})


def test_series_query_reads_rollups_below_the_cut_and_raw_samples_from_it() -> None:
    start = NOW - timedelta(hours=1)
    res, q = series_query("r1", "ifInOctets", {"interface": "eth0"}, start, NOW, parse_step("15m"))
    text = q.text.as_string(None)
    assert res.name == "5m" and 'JOIN "metric_rollup_5m" r' in text and "s.labels @> %s" in text
    # the cut: the earliest pending bucket of 5m or finer (not 1h), floored to 5 minutes
    assert "WHERE res = '1m'" in text and "WHERE res = '5m'" in text and "'1h'" not in text
    assert "date_bin('300 seconds'::interval, least(" in text
    assert "r.bucket < (SELECT at FROM cut)" in text and "JOIN metric_samples r" in text
    assert "r.ts >= greatest(%s, (SELECT at FROM cut))" in text
    assert "date_bin('900 seconds'::interval, u.at" in text and "GROUP BY" in text
    assert q.params[:2] == ["ifInOctets", "r1"] and q.params[-4:] == [start, NOW, start, NOW]


def test_raw_samples_start_where_the_first_whole_bucket_does() -> None:
    """An unaligned range reads the buckets starting in it; their samples run up to `to` rounded up."""
    start, end = NOW - timedelta(minutes=59, seconds=30), NOW + timedelta(seconds=10)
    res, q = series_query("r1", "m", {}, start, end, parse_step("1m"))
    assert res.name == "1m" and q.params[-4:] == [
        start,
        end,
        NOW - timedelta(minutes=59),
        NOW + timedelta(minutes=1),
    ]
    assert "WHERE res = '5m'" not in q.text.as_string(None)


def test_raw_queries_read_samples_only() -> None:
    res, q = series_query("r1", "m", {}, NOW - timedelta(hours=1), NOW, None)
    text = q.text.as_string(None)
    assert res.name == "raw" and "GROUP BY" not in text and "pending" not in text
    assert 'JOIN "metric_samples" r' in text and q.params == ["m", "r1", NOW - timedelta(hours=1), NOW]
    res, q = series_query("r1", "m", {}, NOW - timedelta(hours=1), NOW, parse_step("90s"))
    text = q.text.as_string(None)
    assert res.name == "raw" and "avg(r.value)" in text and "pending" not in text
    res, q = top_query("cpu", {}, NOW - timedelta(seconds=3599), NOW, 5, "avg")
    assert res.name == "raw" and "pending" not in q.text.as_string(None) and q.params[-1] == 5


def test_top_query_orders_by_the_aggregate() -> None:
    res, q = top_query("cpu", {}, NOW - timedelta(hours=2), NOW, 5, "max")
    text = q.text.as_string(None)
    assert res.name == "1h" and 'ORDER BY "max" DESC, u.asset_id LIMIT %s' in text and q.params[-1] == 5
    assert all(f"WHERE res = '{r}'" in text for r in ("1m", "5m", "1h"))
    assert 'JOIN "metric_rollup_1h" r' in text and "GROUP BY u.asset_id" in text
