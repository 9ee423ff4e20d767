"""Request latency of the integration endpoints against `POST /api/v1/events` (the baseline), one
event per request, on a real API + pipeline (`EMS_BENCH_STACK=embedded` for the embedded servers).

Run: `.venv/bin/python -m ems.bench.formats_http [REQUESTS]`.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from ems.bench.api_ready import wait_ready
from ems.bench.auth import UNLIMITED, admin_key, auth_headers
from ems.bench.stack import started_stack
from ems.infra.process import free_port
from ems.process_group import spawn_ems, stop_processes

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "ingest"


def _bodies() -> dict[str, object]:
    def sample(name: str) -> object:
        return json.loads((SAMPLES / name).read_text())

    return {
        "/api/v1/events": {
            "source": "nms",
            "severity": "major",
            "event": "HttpServerError",
            "resource": "web01",
        },
        "/api/v1/integrations/alertmanager": sample("alertmanager_firing.json"),
        "/api/alert": sample("alerta_alert.json"),
        "/v2/enqueue": sample("pagerduty_trigger.json"),
    }


def measure(api: str, requests: int, headers: dict[str, str]) -> dict[str, list[float]]:
    """Sorted latencies (s) per path, after 20 warm-up requests each (authenticated by `headers`)."""
    out = {}
    with httpx.Client(base_url=api, timeout=30, headers=headers) as client:
        for path, body in _bodies().items():
            for _ in range(20):
                client.post(path, json=body).raise_for_status()
            lat = []
            for _ in range(requests):
                start = time.perf_counter()
                client.post(path, json=body).raise_for_status()
                lat.append(time.perf_counter() - start)
            out[path] = sorted(lat)
    return out


def main(requests: int = 300) -> None:
    logs = Path(tempfile.mkdtemp(prefix="ems-bench-formats-"))
    name = "bf" + uuid.uuid4().hex[:8]
    port = free_port()
    with started_stack() as stack:
        env = {**os.environ, **stack.env(), "EMS_TOPIC_PREFIX": name, "EMS_APP_ID": name}
        env |= {"EMS_READ_MODEL_SCHEMA": name, "EMS_API_PORT": str(port), "EMS_WORKER_WEB_PORT": "0"}
        env |= UNLIMITED
        headers = auth_headers(admin_key(env))
        procs = [spawn_ems(["worker"], env, logs / "worker.log"), spawn_ems(["api"], env, logs / "api.log")]
        try:
            api = f"http://127.0.0.1:{port}"
            wait_ready(api, logs, timeout=120)
            results = measure(api, requests, headers)
        finally:
            stop_processes(procs)
    base = statistics.median(results["/api/v1/events"])
    print(f"{'endpoint (one event per request)':38} {'median ms':>10} {'p95 ms':>8} {'vs baseline':>12}")
    for path, lat in results.items():
        median = statistics.median(lat)
        p95 = lat[int(0.95 * len(lat))]
        print(f"{path:38} {median * 1000:10.2f} {p95 * 1000:8.2f} {median / base:11.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
