"""A thread that polls `/health` and a read during a drill and keeps what it saw."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import httpx


class Watch:
    """Polls `/health` and a read every `interval` s in a thread (as `headers` authenticate); keeps
    what it saw."""

    def __init__(self, api: str, headers: Mapping[str, str], interval: float = 1.0) -> None:
        self.api, self.headers, self.interval = api, dict(headers), interval
        self.health: list[tuple[float, int, list[str]]] = []
        self.reads: list[tuple[float, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.api, timeout=30, headers=self.headers) as client:
            while not self._stop.is_set():
                now = time.monotonic()
                try:
                    r = client.get("/health")
                    self.health.append((now, r.status_code, r.json().get("problems", [])))
                except httpx.HTTPError as exc:
                    self.health.append((now, 0, [type(exc).__name__]))
                started = time.monotonic()
                try:
                    status = client.get("/api/v1/alerts", params={"limit": 5, "total": "false"}).status_code
                except httpx.HTTPError:
                    status = 0
                self.reads.append((started, status, time.monotonic() - started))
                self._stop.wait(self.interval)

    def healthy_after(self, start: float, within: float) -> None:
        """Return once `/health` answered 200 after `start`, or `within` s after `start`."""
        while time.monotonic() < start + within:
            if any(t > start and status == 200 for t, status, _ in list(self.health)):
                return
            time.sleep(0.5)

    def between(self, start: float, end: float) -> tuple[list, list]:
        return (
            [h for h in self.health if start <= h[0] <= end],
            [r for r in self.reads if start <= r[0] <= end],
        )
