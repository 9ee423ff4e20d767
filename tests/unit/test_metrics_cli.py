"""Retention: which metric partitions are past their resolution's retention."""

from __future__ import annotations

from datetime import UTC, datetime

from ems.metrics_cli import expired, partition_start, retention_days
from ems.projections.metrics import RAW, ROLLUPS
from ems.settings import Settings


def test_partition_start_from_name() -> None:
    assert partition_start("metric_samples_p20261127") == datetime(2026, 11, 27, tzinfo=UTC)
    assert partition_start("metric_samples_default") is None


def test_a_partition_goes_once_its_end_is_older_than_the_retention() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    names = ["metric_samples_p20261119", "metric_samples_p20261120", "metric_samples_p20261121", "other"]
    # 7 days: cutoff 11-20 12:00; the 19th ends on the 20th 00:00 (gone), the 20th on the 21st (kept)
    assert [e.partition for e in expired(RAW, names, now, 7)] == ["metric_samples_p20261119"]
    hourly = ROLLUPS[-1]  # 720 h partitions
    assert expired(hourly, ["metric_rollup_1h_p20251023"], now, 400) == []
    assert [e.partition for e in expired(hourly, ["metric_rollup_1h_p20251023"], now, 10)] == [
        "metric_rollup_1h_p20251023"
    ]


def test_retention_days_come_from_the_settings() -> None:
    days = retention_days(Settings(metrics_retention_raw_days=3))
    assert days == {"raw": 3, "1m": 30, "5m": 90, "1h": 400}
