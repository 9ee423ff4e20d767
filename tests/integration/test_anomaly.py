"""Metric anomaly detection end to end: metric samples posted to the API -> the anomaly stage (river) ->
a MetricAnomaly alert on the alerts API, kept across a restart of the stage (models rebuilt by replay),
then cleared when the series is back to normal."""

from __future__ import annotations

import random
import signal
from datetime import UTC, datetime, timedelta

from tests.integration.harness import Pipeline, wait_for

ASSET, STEP = "db-7", timedelta(seconds=10)


def _metrics(base: datetime, start: int, values: list[float]) -> dict:
    samples = [
        {"name": "cpu", "value": v, "labels": {"core": "0"}, "at": (base + (start + i) * STEP).isoformat()}
        for i, v in enumerate(values)
    ]
    return {"source": "nms", "asset_id": ASSET, "body": {"kind": "metrics", "samples": samples}}


def test_a_spike_raises_a_metric_anomaly_that_survives_a_restart_and_clears(pipeline: Pipeline) -> None:
    rng = random.Random(11)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    normal = [50 + rng.gauss(0, 2) for _ in range(200)]
    spike = [500.0] * 6
    after = [50 + rng.gauss(0, 2) for _ in range(20)]
    pipeline.start_worker(stages="normalize,dedupe,projections")
    pipeline.start("anomaly", "worker", "--stages", "anomaly")
    pipeline.start_api()

    def alerts(api) -> list[dict]:
        pipeline.check_alive()
        r = api.get("/api/v1/alerts", params={"event": "MetricAnomaly", "asset_id": ASSET})
        assert r.status_code == 200, r.text
        return r.json()["alerts"]

    with pipeline.client() as api:
        for start, values in ((0, normal), (200, spike)):
            r = api.post("/api/v1/events", json=[_metrics(base, start, values)])
            assert r.status_code == 202, r.text
        [alert] = wait_for(lambda: alerts(api), 120, "the MetricAnomaly alert")
        assert (alert["status"], alert["severity"], alert["resource"]) == ("open", "warning", "cpu{core=0}")
        assert alert["attributes"]["value"] == 500.0 and alert["attributes"]["score"] >= 0.93

        # A restarted stage replays ems.metrics (not publishing) and carries on where it was.
        pipeline.kill("anomaly", signal.SIGTERM)
        pipeline.restart("anomaly")
        r = api.post("/api/v1/events", json=[_metrics(base, 206, after)])
        assert r.status_code == 202, r.text

        def cleared() -> dict | None:
            found = alerts(api)
            return found[0] if found and found[0]["status"] == "resolved" else None

        alert = wait_for(cleared, 120, "the MetricAnomaly alert to clear")
        assert alert["severity"] == "ok"
    events = pipeline.query(
        "SELECT severity, occurred_at FROM events WHERE event = 'MetricAnomaly' ORDER BY occurred_at"
    )
    # Raised once (at the fifth spike sample), not again after the restart; cleared at the fifth normal.
    assert [(e["severity"], e["occurred_at"]) for e in events] == [
        ("warning", base + 204 * STEP),
        ("ok", base + 210 * STEP),
    ]
