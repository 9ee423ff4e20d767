"""Metric observations posted to the API -> metric store -> the three metric queries; replay; retention."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ems.infra.migrate import migrate
from ems.projections.metrics import ROLLUPS, floor_time
from ems.projections.metrics_rollup import UNSETTLED_SQL, WAIT_LOCK_SQL, pending_cut
from tests.integration.harness import Pipeline, wait_for

ASSETS, STEP_S, SAMPLES = 3, 10, 720  # per series: 2 h of 10 s samples
METRIC_TABLES = {
    "metric_series": "series_id",
    "metric_samples": "series_id, ts",
    "metric_rollup_1m": "series_id, bucket",
    "metric_rollup_5m": "series_id, bucket",
    "metric_rollup_1h": "series_id, bucket",
    "metric_rollup_state": "id",
}


def _series(base: datetime) -> dict[tuple[str, str, str | None], list[tuple[datetime, float]]]:
    """(asset, name, interface) -> [(time, value)]: ifInOctets on eth0/eth1 and cpu per asset."""
    out = {}
    for a in range(ASSETS):
        for k, iface in enumerate(("eth0", "eth1")):
            out[(f"r{a}", "ifInOctets", iface)] = [
                (base + timedelta(seconds=STEP_S * i), 1000.0 * a + 10 * k + i % 37) for i in range(SAMPLES)
            ]
        out[(f"r{a}", "cpu", None)] = [
            (base + timedelta(seconds=STEP_S * i), a + (i % 50) / 8) for i in range(SAMPLES)
        ]
    return out


def _observations(series: dict, per_obs: int = 120) -> list[dict]:
    out = []
    for (asset, name, iface), points in series.items():
        labels = {"interface": iface} if iface else {}
        for i in range(0, len(points), per_obs):
            samples = [
                {"name": name, "value": v, "labels": labels, "at": t.isoformat()}
                for t, v in points[i : i + per_obs]
            ]
            out.append({"source": "nms", "asset_id": asset, "body": {"kind": "metrics", "samples": samples}})
    return out


def _dump(pipeline: Pipeline, schema: str | None = None) -> dict[str, list]:
    return {
        t: pipeline.query(f"SELECT * FROM {t} ORDER BY {k}", schema=schema) for t, k in METRIC_TABLES.items()
    }


def test_metrics_through_the_api_queries_and_replay(pipeline: Pipeline) -> None:
    base = floor_time(datetime.now(UTC), timedelta(hours=1)) - timedelta(hours=3)
    series = _series(base)
    total = sum(len(p) for p in series.values())
    observations = _observations(series)
    pipeline.start_worker()
    pipeline.start_api()
    with pipeline.client() as client:
        for i in range(0, len(observations), 10):
            r = client.post("/api/v1/events", json=observations[i : i + 10])
            assert r.status_code == 202, r.text
        r = client.post("/api/v1/events", json=observations[0])  # the same samples again: stored once
        assert r.status_code == 202, r.text
    sent = len(observations) + 1

    def applied() -> bool:
        pipeline.check_alive()
        try:
            done = pipeline.scalar(
                "SELECT coalesce(sum(last_offset + 1), 0) FROM projection_checkpoint "
                "WHERE projection = 'metrics'"
            )
        except psycopg.errors.UndefinedTable:
            return False
        return done >= sent

    wait_for(applied, 240, f"the metrics projection to apply {sent} observations")
    # the rollup job has passed over every bucket the watermark closed, once quiet (10 s)
    wait_for(lambda: not pipeline.scalar(UNSETTLED_SQL), 60, "the rollup job to settle")
    assert pipeline.scalar("SELECT count(*) FROM metric_samples") == total
    assert pipeline.scalar("SELECT count(*) FROM metric_series") == len(series)
    # every sample counted once, duplicate or not: by each rollup up to its first pending bucket, then
    # by the raw samples (the rollup job recomputed every closed bucket after the batches); no 1m row
    # while the raw samples are kept
    for res in ROLLUPS:
        cut = pending_cut(res).as_string(None)
        rolled = pipeline.scalar(f"SELECT coalesce(sum(count), 0) FROM {res.table} WHERE bucket < {cut}")
        assert rolled + pipeline.scalar(f"SELECT count(*) FROM metric_samples WHERE ts >= {cut}") == total
        assert rolled > 0 if res is not ROLLUPS[0] else rolled == 0, res.name

    t0, t2 = base.isoformat(), (base + timedelta(hours=2)).isoformat()
    eth0 = series[("r1", "ifInOctets", "eth0")]
    with pipeline.client() as client:
        # series: hourly from the 1h rollup, equal to the samples' own aggregates
        q = {
            "asset": "r1",
            "name": "ifInOctets",
            "from": t0,
            "to": t2,
            "step": "1h",
            "label.interface": "eth0",
        }
        body = client.get("/api/v1/metrics/series", params=q).json()
        assert body["resolution"] == "1h" and len(body["series"]) == 1
        assert body["series"][0]["labels"] == {"interface": "eth0"}
        points = body["series"][0]["points"]
        for hour, point in enumerate(points):
            values = [v for _, v in eth0[hour * 360 : (hour + 1) * 360]]
            assert point["avg"] == pytest.approx(statistics.fmean(values))
            assert (point["min"], point["max"], point["count"]) == (min(values), max(values), 360)
        assert len(points) == 2
        # 15 min from the 5m rollup and 30 s from the raw samples agree on the same range
        q15 = {**q, "step": "15m"}
        fifteen = client.get("/api/v1/metrics/series", params=q15).json()
        raw30 = client.get("/api/v1/metrics/series", params={**q, "step": "30s"}).json()
        assert (fifteen["resolution"], raw30["resolution"]) == ("5m", "raw")
        assert len(fifteen["series"][0]["points"]) == 8 and len(raw30["series"][0]["points"]) == 240
        assert sum(p["count"] for p in raw30["series"][0]["points"]) == SAMPLES
        both = client.get(
            "/api/v1/metrics/series", params={k: v for k, v in q.items() if k != "label.interface"}
        )
        assert sorted(s["labels"]["interface"] for s in both.json()["series"]) == ["eth0", "eth1"]
        # no step: the raw samples themselves
        q_raw = {
            "asset": "r1",
            "name": "ifInOctets",
            "from": t0,
            "to": (base + timedelta(minutes=1)).isoformat(),
        }
        raw = client.get("/api/v1/metrics/series", params={**q_raw, "label.interface": "eth0"}).json()
        assert [p["avg"] for p in raw["series"][0]["points"]] == [v for _, v in eth0[:6]]

        # latest: one value per series of the asset
        latest = client.get("/api/v1/metrics/latest", params={"asset": "r2"}).json()["series"]
        assert [(s["name"], s["labels"].get("interface"), s["value"]) for s in latest] == [
            ("cpu", None, series[("r2", "cpu", None)][-1][1]),
            ("ifInOctets", "eth0", series[("r2", "ifInOctets", "eth0")][-1][1]),
            ("ifInOctets", "eth1", series[("r2", "ifInOctets", "eth1")][-1][1]),
        ]
        one = client.get("/api/v1/metrics/latest", params={"asset": "r2", "name": "cpu"}).json()["series"]
        assert len(one) == 1

        # top: hourly rollup for an aligned range, raw samples otherwise; same ranking
        top = client.get("/api/v1/metrics/top", params={"name": "cpu", "n": 2, "from": t0, "to": t2}).json()
        assert top["resolution"] == "1h" and [a["asset_id"] for a in top["assets"]] == ["r2", "r1"]
        cpu2 = [v for _, v in series[("r2", "cpu", None)]]
        assert top["assets"][0]["avg"] == pytest.approx(statistics.fmean(cpu2))
        odd = {
            "name": "ifInOctets",
            "agg": "max",
            "from": (base + timedelta(seconds=1)).isoformat(),
            "to": t2,
        }
        top = client.get("/api/v1/metrics/top", params=odd).json()
        assert top["resolution"] == "raw" and [a["asset_id"] for a in top["assets"]] == ["r2", "r1", "r0"]
        assert top["assets"][0]["max"] == max(v for _, v in series[("r2", "ifInOctets", "eth1")])

        # precise 400s
        for path, params, reason in [
            ("series", {**q, "step": "5x"}, "step must be"),
            ("series", {**q, "from": t2, "to": t0}, "must be before to"),
            ("series", {**q, "from": "yesterday"}, "from must be an ISO-8601 time"),
            ("series", {**q, "step": "1s", "from": "2020-01-01T00:00:00Z"}, "points per series exceed"),
            ("series", {"name": "cpu"}, "asset: Field required"),
            ("series", {**q, "bogus": "1"}, "unknown parameter 'bogus'"),
            ("top", {"name": "cpu", "n": "0"}, "n: Input should be greater than or equal to 1"),
            ("top", {"name": "cpu", "agg": "median"}, "agg must be avg or max"),
            ("latest", {}, "asset: Field required"),
        ]:
            r = client.get(f"/api/v1/metrics/{path}", params=params)
            said = " | ".join(
                [r.json()["error"], *(f"{e['field']}: {e['message']}" for e in r.json().get("errors", []))]
            )
            assert r.status_code == 400 and reason in said, (path, params, r.text)
        assert "/api/v1/metrics/top" in client.get("/openapi.json").json()["paths"]

    # replay rebuilds the metric tables row for row (rollups too: each bucket recomputed from the samples)
    target = f"{pipeline.name}_rb"
    done = pipeline.run("replay", "--schema", target)
    assert done.returncode == 0, done.stderr
    assert _dump(pipeline) == _dump(pipeline, target)
    pending = "SELECT res, bucket FROM metric_rollup_pending ORDER BY 1, 2"
    assert pipeline.query(pending) == pipeline.query(pending, schema=target)
    check = "SELECT * FROM projection_checkpoint WHERE projection = 'metrics' ORDER BY partition"
    assert pipeline.query(check) == pipeline.query(check, schema=target)


def test_retention_drops_whole_partitions_past_each_resolution(pipeline: Pipeline) -> None:
    url = pipeline.settings.database_url.get_secret_value()
    migrate(url, pipeline.name)
    now = datetime(2026, 6, 30, 12, tzinfo=UTC)
    with psycopg.connect(url, options=f"-c search_path={pipeline.name}") as conn:
        for days in (1, 10, 40):  # raw keeps 7 d, 1m keeps 30 d, 5m 90 d, 1h 400 d
            at = now - timedelta(days=days)
            conn.execute("SELECT metric_partitions_for(%s)", (at,))
            conn.execute("INSERT INTO metric_samples VALUES (1, %s, 1.0)", (at,))
            conn.execute(
                "INSERT INTO metric_rollup_1m VALUES (1, %s, 7, 7, 1, 1, 1, %s)",  # not from raw
                (floor_time(at, timedelta(minutes=1)), at),
            )
    dry = pipeline.run("metrics", "retention", "--now", now.isoformat(), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would drop 3 partition(s)" in dry.stdout  # samples -10 d, -40 d; 1m -40 d
    assert pipeline.scalar("SELECT count(*) FROM metric_samples") == 3
    with psycopg.connect(url, options=f"-c search_path={pipeline.name}") as pass_:  # a long rollup pass
        pass_.execute(WAIT_LOCK_SQL)
        blocked = pipeline.run("metrics", "retention", "--now", now.isoformat())  # waits 10 s, gives up
    assert blocked.returncode == 1 and "LockNotAvailable" in blocked.stderr, blocked.stderr
    assert "nothing was lost" in blocked.stderr and "Traceback" not in blocked.stderr, blocked.stderr
    assert pipeline.scalar("SELECT count(*) FROM metric_samples") == 3
    done = pipeline.run("metrics", "retention", "--now", now.isoformat())
    assert done.returncode == 0, done.stderr
    assert "dropped 3 partition(s)" in done.stdout
    kept = pipeline.query("SELECT ts FROM metric_samples")
    assert [r["ts"] for r in kept] == [now - timedelta(days=1)]
    # the minutes of a raw day are written from its samples before it goes; the day kept is not
    counts = pipeline.query("SELECT bucket, count FROM metric_rollup_1m ORDER BY bucket")
    assert [r["count"] for r in counts] == [1, 7], counts
    ten_days = floor_time(now - timedelta(days=10), timedelta(days=1)) + timedelta(days=1)
    assert pipeline.scalar("SELECT upto FROM metric_rollup_archived") == ten_days
    tomorrow = f"metric_samples_p{(now + timedelta(days=1)):%Y%m%d}"
    assert pipeline.scalar("SELECT to_regclass(%s) IS NOT NULL", (f"{pipeline.name}.{tomorrow}",))
    again = pipeline.run("metrics", "retention", "--now", now.isoformat())
    assert "dropped 0 partition(s)" in again.stdout
