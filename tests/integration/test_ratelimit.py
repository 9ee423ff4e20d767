"""Writes are limited per client in Redis, shared by every API process."""

from __future__ import annotations

import time

import httpx

from tests.integration.harness import Pipeline

EVENT = {"source": "nms", "severity": "minor", "title": "Port flap", "asset_id": "ast_sw_1"}


def test_writes_over_the_limit_get_429_with_retry_after(servers, tmp_path) -> None:
    pipeline = Pipeline(servers, tmp_path, rate_limit_per_minute="5")
    try:
        pipeline.start_api()
        if time.time() % 60 > 50:  # fixed one-minute windows: start the test inside one
            time.sleep(61 - time.time() % 60)
        with httpx.Client(base_url=pipeline.api, timeout=30) as c:
            key = {"x-api-key": f"client-{pipeline.name}"}
            assert c.post("/api/v1/events", json=[EVENT] * 4, headers=key).status_code == 202
            r = c.post("/api/v1/events", json=EVENT, headers=key)
            assert r.status_code == 202 and r.headers["x-ratelimit-remaining"] == "0"
            r = c.post("/api/v1/events", json=EVENT, headers=key)
            assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 60
            assert "rate limit of 5 events per minute" in r.json()["error"]
            # Another client has its own budget; reads are not limited.
            assert c.post("/api/v1/events", json=EVENT, headers={"x-api-key": "other"}).status_code == 202
            assert c.get("/api/v1/alerts").status_code == 200
    finally:
        pipeline.stop_all()
