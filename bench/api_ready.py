"""Waiting for a benchmark's `ems api` process to answer before the clock starts."""

from __future__ import annotations

import time
from pathlib import Path

import httpx


def wait_ready(api: str, logs: Path, path: str = "/health/ready", timeout: float = 180) -> None:
    """Poll `api` + `path` until it answers 200; exit naming the logs folder after `timeout` s.

    `/health/ready` also needs the servers and stages up; `/health/live` only the API process."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{api}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the API did not come up; logs in {logs}")
        time.sleep(0.5)
