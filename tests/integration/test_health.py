"""`/health` tells the truth about the pipeline: a worker killed for good makes it 503 with the reason,
a worker started again makes it 200 again; `/health/live` only says the API process answers.
The details need `read:health`; `/health/ready` and `/health/live` are public and give none."""

from __future__ import annotations

import time

import httpx
import psycopg

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


def test_not_ready_until_the_schema_is_migrated(pipeline: Pipeline) -> None:
    """The API applies the migrations itself once PostgreSQL answers; until then requests would meet
    missing tables, so `/health/ready` says 503. Here a session holds the migrations' lock."""
    url = pipeline.settings.database_url.get_secret_value()
    with psycopg.connect(url) as blocker:
        blocker.execute("SELECT pg_advisory_xact_lock(hashtext('ems-migrate'))")
        pipeline.start_api()
        with httpx.Client(base_url=pipeline.api, timeout=10) as anonymous:
            for _ in range(3):
                ready = anonymous.get("/health/ready")
                assert ready.status_code == 503 and ready.json()["status"] == "degraded", ready.text
                time.sleep(0.5)
            blocker.rollback()  # the lock goes: the API migrates
            wait_for(lambda: anonymous.get("/health/ready").status_code == 200, 60, "ready once migrated")
    with pipeline.client(timeout=10) as c:
        body = c.get("/health").json()
        assert body["checks"]["postgres"]["ok"] and body["problems"] == [], body
