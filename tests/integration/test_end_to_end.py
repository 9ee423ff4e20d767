"""POST observations through the API; the alerts read model must hold exactly the expected alerts."""

from __future__ import annotations

import httpx
import pytest

from ems.infra.process import free_port
from ems.scenario import expected, generate
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.embedded  # the whole path, API to read models, on the embedded servers


def test_thousand_observations_through_the_api(servers, tmp_path) -> None:
    web = free_port()
    pipeline = Pipeline(servers, tmp_path, worker_web_port=str(web))
    try:
        run(pipeline, web)
    finally:
        pipeline.stop_all()


def run(pipeline: Pipeline, web: int) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    sent = list(generate(1000, assets=25, seed=11, change_rate=0.15, clear_rate=0.08))
    with pipeline.client() as client:
        for i in range(0, 900, 100):  # batches ...
            r = client.post("/api/v1/events", json=sent[i : i + 100])
            assert r.status_code == 202, r.text
            assert len(r.json()["ids"]) == 100
        for obs in sent[900:]:  # ... and single events
            r = client.post("/api/v1/events", json=obs)
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "accepted" and r.json()["id"]
    want = expected(sent)
    pipeline.wait_projected(1000)
    pipeline.wait_alert_events(1000)

    with pipeline.client() as client:
        body = client.get("/api/v1/alerts", params={"limit": 1000}).json()
        assert body["total"] == len(want) == len(body["alerts"])
        got = {(a["asset_id"], a["event"]): a for a in body["alerts"]}
        assert set(got) == set(want)
        for key, exp in want.items():
            a = got[key]
            assert (a["event_count"], a["duplicate_count"]) == (exp.event_count, exp.event_count - 1), key
            assert (a["severity"], a["status"]) == (exp.severity, exp.status), key

        # Filters, counts and paging agree with the expectation.
        resolved = [k for k, e in want.items() if e.status == "resolved"]
        r = client.get("/api/v1/alerts", params={"status": "resolved", "limit": 1}).json()
        assert r["total"] == len(resolved)
        asset = sent[0]["asset_id"]
        r = client.get("/api/v1/alerts", params={"asset_id": asset}).json()
        assert r["total"] == sum(1 for k in want if k[0] == asset)
        seen, cursor = [], None
        while True:
            params = {"limit": 7, "sort": "-event_count", **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/alerts", params=params).json()
            seen += [a["alert_id"] for a in page["alerts"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == len(want)

        # One alert in detail, with its history.
        one = body["alerts"][0]
        detail = client.get(f"/api/v1/alerts/{one['alert_id']}").json()
        assert detail["alert"]["fingerprint"] == one["fingerprint"]
        assert detail["history"][0]["kind"] == "opened"
        assert client.get("/api/v1/alerts/alr_nope").status_code == 404

        events = client.get(
            "/api/v1/events", params={"fingerprint": one["fingerprint"], "limit": 1000}
        ).json()
        assert events["total"] == one["event_count"]
        health = client.get("/health").json()
        assert health["status"] == "ok" and set(health["checks"]) == {"kafka", "postgres", "redis"}
        assert client.get("/openapi.json").json()["paths"]["/api/v1/alerts"]["get"]["parameters"]
        metrics = client.get("/metrics").text
        assert "ems_api_events_accepted_total 1000.0" in metrics
        assert 'route="/api/v1/alerts/{alert_id}"' in metrics and 'status="404"' in metrics
        # The stages as /health judged them, with their consumer lag (from the workers' Redis heartbeats).
        assert 'ems_stage_healthy{stage="projection:alerts"} 1.0' in metrics
        assert (
            'ems_stage_lag{stage="projection:alerts"}' in metrics
            and 'ems_stage_lag{stage="normalize"}' in metrics
        )

    worker = httpx.get(f"http://127.0.0.1:{web}/health", timeout=10).json()
    assert worker["status"] == "ok" and f"{pipeline.name}.events:0" in worker["assigned"]
    stages = httpx.get(f"http://127.0.0.1:{web}/metrics", timeout=10).text
    for stage in ("normalize", "dedupe", "projection:events", "projection:alerts"):
        assert f'ems_stage_records_total{{stage="{stage}"}}' in stages
    dedupe = next(
        line for line in stages.splitlines() if line.startswith('ems_stage_records_total{stage="dedupe"}')
    )
    assert float(dedupe.split()[-1]) >= 1000  # at least once: a rebalance may redeliver a batch
