"""The audit that ends every drill: each accepted write accounted for exactly once, and the read
models equal to a rebuild from the log.

Accounting, for the run's environment and assets:
- events: every id the API accepted is one row of `events` (missing otherwise); the alerts of the
  run count exactly those events (`sum(event_count)` above the distinct events = duplicates); an
  id that was answered `"appended": false` must not be there (a late append);
- metric samples: every accepted sample is one row of `metric_samples`, and the 5-minute rollups
  (the first written from the raw samples: no 1m row exists while they are kept) count each once
  (the rollup rows below the earliest pending bucket, the raw samples from there on, as the queries
  read them);
Rebuild: `ems replay` into a side schema, then every read-model table compared row for row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ems.drills.load import Ledger
from ems.drills.pipeline import Pipeline
from ems.projections.metric_buckets import ROLLUPS
from ems.projections.metrics_rollup import UNSETTLED_SQL, pending_cut

# Read-model tables and the key that orders them for the comparison with a rebuild.
TABLES = {
    "events": "event_id",
    "alerts": "alert_id",
    "alert_history": "alert_id, event_id, kind",
    "projection_checkpoint": "projection, topic, partition",
    "metric_series": "series_id",
    "metric_samples": "series_id, ts",
    "metric_rollup_1m": "series_id, bucket",
    "metric_rollup_5m": "series_id, bucket",
    "metric_rollup_1h": "series_id, bucket",
    "metric_rollup_state": "id",
    "assets": "asset_id",
    "asset_dependencies": "source_id, type, target_id",
    "asset_changes": "asset_id, version",
}


@dataclass
class Accounting:
    """What the read models hold of what the client was told."""

    sent: int = 0
    accounted: int = 0
    missing: int = 0
    duplicated: int = 0
    late_appends: int = 0
    unknown_landed: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def account(pipeline: Pipeline, ledger: Ledger, run: str) -> Accounting:
    """Compare the ledger of run `run` with the read models (see the module docstring)."""
    rows = pipeline.query("SELECT event_id FROM events WHERE environment = %s", (run,))
    stored = {r["event_id"] for r in rows}
    counted = pipeline.scalar(
        "SELECT coalesce(sum(event_count), 0) FROM alerts WHERE environment = %s", (run,)
    )
    series = "SELECT series_id FROM metric_series WHERE asset_id LIKE %s"
    like = (f"ast_{run}_%",)
    samples = pipeline.scalar(f"SELECT count(*) FROM metric_samples WHERE series_id IN ({series})", like)
    five = ROLLUPS[1]
    cut = pending_cut(five).as_string(None)
    rolled = pipeline.scalar(
        f"SELECT coalesce(sum(count), 0) FROM {five.table} WHERE series_id IN ({series}) "
        f"AND bucket < {cut}",
        like,
    ) + pipeline.scalar(
        f"SELECT count(*) FROM metric_samples WHERE series_id IN ({series}) AND ts >= {cut}", like
    )
    out = Accounting()
    out.sent = len(ledger.events) + ledger.samples
    found = len(ledger.events & stored)
    out.missing = len(ledger.events - stored) + max(0, ledger.samples - samples)
    out.accounted = found + min(samples, ledger.samples)
    extra_events = stored - ledger.events - ledger.unknown
    out.duplicated = max(0, int(counted) - len(stored)) + max(0, int(rolled) - samples)
    out.duplicated += max(0, samples - ledger.samples) + len(extra_events - ledger.not_appended)
    out.late_appends = len(stored & ledger.not_appended)
    out.unknown_landed = len(stored & ledger.unknown)
    out.details = {
        "events_sent": len(ledger.events),
        "events_stored": len(stored),
        "alert_event_count": int(counted),
        "samples_sent": ledger.samples,
        "samples_stored": samples,
        "rollup_5m_count": int(rolled),
        "not_appended": len(ledger.not_appended),
        "unknown": len(ledger.unknown),
    }
    return out


def wait_accounted(pipeline: Pipeline, ledger: Ledger, run: str, timeout: float = 180) -> None:
    """Wait until the read models hold every accepted event and sample, then until they are quiet."""
    from ems.drills.pipeline import wait_for

    def done() -> bool:
        pipeline.check_alive()
        acc = account(pipeline, ledger, run)
        return acc.missing == 0

    wait_for(done, timeout, f"the read models to hold every accepted write of {run}", interval=1.0)
    pipeline.wait_quiet(timeout)
    wait_for(lambda: not pipeline.scalar(UNSETTLED_SQL), timeout, "the rollup job to settle", interval=1.0)


def rebuild_differences(pipeline: Pipeline) -> list[str]:
    """Replay the log into a side schema; the tables that differ from the live read models."""
    target = f"{pipeline.name}_audit"
    done = pipeline.run("replay", "--schema", target, timeout=600)
    if done.returncode != 0:
        return [f"ems replay failed ({done.returncode}): {done.stderr[-2000:]}"]
    out = []
    for table, key in TABLES.items():
        live = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}")
        rebuilt = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}", schema=target)
        if live != rebuilt:
            only_live = len([r for r in live if r not in rebuilt])
            out.append(f"{table}: {len(live)} live rows vs {len(rebuilt)} rebuilt ({only_live} differ)")
    return out
