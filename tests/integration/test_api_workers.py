"""`ems api --workers N`: N processes serve one port, and /metrics counts the requests of them all."""

from __future__ import annotations

import re

import httpx
import psutil

from ems.drills.pipeline import Pipeline, wait_for

REQUESTS = 60


def _rejected(text: str, status: str) -> float:
    found = re.search(rf'^ems_api_requests_rejected_total\{{status="{status}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_two_api_processes_share_the_port_and_their_metrics(pipeline: Pipeline) -> None:
    pipeline.start_api("--workers", "2")
    serving = [
        p
        for p in psutil.Process(pipeline.procs["api"].pid).children()
        if "spawn_main" in " ".join(p.cmdline())
    ]
    assert len(serving) == 2
    for _ in range(REQUESTS):  # a connection each: the kernel hands them to either process
        answer = httpx.post(f"{pipeline.api}/api/v1/events", json={}, timeout=10)
        assert answer.status_code == 401  # refused before anything is read: no key
    # Whichever process answers /metrics counts the refusals of both.
    with pipeline.client() as client:
        for _ in range(4):
            text = client.get(
                "/metrics"
            ).text  # a new connection for each (the same one meets the same process)
            client.headers["Connection"] = "close"
            assert _rejected(text, "401") == REQUESTS
    # One process gone: the other still serves the port while the supervisor starts a new one.
    serving[0].kill()
    wait_for(lambda: httpx.get(f"{pipeline.api}/health/live", timeout=5).status_code == 200, 30, "the API")
