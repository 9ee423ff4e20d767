"""The metric store's resolutions: raw samples and the 1m/5m/1h rollups, their tables, bucket widths and
partition spans, all aligned to one epoch (PostgreSQL's `date_bin` with the same origin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday; every bucket and partition is aligned to it


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
