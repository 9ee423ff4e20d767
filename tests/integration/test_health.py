"""`/health` tells the truth about the pipeline: a worker killed for good makes it 503 with the reason,
a worker started again makes it 200 again; `/health/live` only says the API process answers.
The details need `read:health`; `/health/ready` and `/health/live` are public and give none."""

from __future__ import annotations

import httpx

from tests.integration.harness import Pipeline, wait_for


def test_a_dead_worker_makes_health_503_with_the_reason(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    with pipeline.client(timeout=10) as c, httpx.Client(base_url=pipeline.api, timeout=10) as anonymous:
        want = {"normalize", "dedupe", "assets", "projection:events", "projection:alerts"}

        def reported() -> bool:
            r = c.get("/health")
            return r.status_code == 200 and want <= set(r.json()["stages"])

        wait_for(reported, 60, "every stage healthy in /health")
        ready = anonymous.get("/health/ready")
        assert ready.status_code == 200 and ready.json() == {"status": "ok", "problems": []}, ready.text
        assert anonymous.get("/health").status_code == 401

        pipeline.kill("worker")  # the supervisor and its worker: nothing restarts it

        def down() -> list[str] | None:
            r = c.get("/health")
            return r.json()["problems"] if r.status_code == 503 else None

        problems = wait_for(down, 60, "/health to notice the dead worker")
        assert any("normalize: no live worker (last heartbeat" in p for p in problems), problems
        ready = anonymous.get("/health/ready")
        assert ready.status_code == 503 and ready.json() == {"status": "degraded", "problems": []}, ready.text
        assert anonymous.get("/health/live").status_code == 200

        pipeline.start_worker()
        wait_for(lambda: c.get("/health").status_code == 200, 120, "/health after the restart")
