"""The drills' client: a known stream of writes through the HTTP API, and a ledger of the answers.

Each request carries `batch` events and one metrics observation (4 samples with their own times).
Even-numbered requests use the native event shape with an `Idempotency-Key` (the API derives the
ids); odd-numbered ones full observations naming their own `event_id`s: both ways of making a retry
safe are exercised. Severities never clear, so an alert's `event_count` must equal the number of
distinct events sent for it.

With `retry=True` the client does what a careful client does after a timeout, a 503 or a refused
connection: it sends the same request again (same key, same ids) until it is accepted. With
`retry=False` it sends each request once and records what it was told, so that a drill can check
that a write answered `"appended": false` never shows up later.

`headers` authenticate the client (e.g. `Pipeline.auth`, an admin key): the API refuses anonymous writes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

SEVERITIES = ("critical", "major", "minor", "warning")
EVENTS = ("Drill CPU", "Drill Link", "Drill Disk")
METRICS = ("drill_cpu", "drill_mem", "drill_rx", "drill_tx")


@dataclass
class Ledger:
    """What the API answered: the ids it accepted and what happened to the others."""

    events: set[str] = field(default_factory=set)  # ids of the event observations accepted
    metric_observations: set[str] = field(default_factory=set)  # ids of the metrics ones accepted
    samples: int = 0  # metric samples in the accepted metrics observations
    not_appended: set[str] = field(default_factory=set)  # 503 "appended": false, not sent again
    unknown: set[str] = field(default_factory=set)  # 503 "unknown" or a timeout, not sent again
    statuses: Counter = field(default_factory=Counter)
    retries: int = 0
    requests: int = 0
    slowest: float = 0.0  # the longest any single request took to answer (s)


class Load:
    """Sends the drill stream of run `run` to the API at `api` (see the module docstring)."""

    def __init__(
        self,
        api: str,
        run: str,
        *,
        headers: Mapping[str, str] | None = None,
        assets: int = 40,
        batch: int = 10,
        retry: bool = True,
        timeout: float = 10.0,
        give_up_after: float = 300.0,
    ) -> None:
        self.api, self.run_id, self.assets, self.batch = api, run, assets, batch
        self.headers = dict(headers or {})
        self.retry, self.timeout, self.give_up_after = retry, timeout, give_up_after
        self.ledger = Ledger()
        self.t0 = datetime.now(UTC).replace(microsecond=0)
        self._rng = random.Random(run)
        self._stopped = False

    def stop(self) -> None:
        """Send no more new requests (those under way still finish)."""
        self._stopped = True

    def asset(self, k: int) -> str:
        return f"ast_{self.run_id}_{k % self.assets}"

    def request(self, n: int) -> tuple[dict[str, str], list[dict[str, Any]], list[str] | None]:
        """(headers, body, ids or None when the API derives them) of request `n`."""
        keyed = n % 2 == 0
        items: list[dict[str, Any]] = []
        ids = None if keyed else []
        for i in range(self.batch):
            k = n * self.batch + i
            event = {
                "source": "drill",
                "asset_id": self.asset(k),
                "event": EVENTS[k % len(EVENTS)],
                "severity": self._rng.choice(SEVERITIES),
                "resource": self.asset(k),
                "environment": self.run_id,
                "text": f"request {n} item {i}",
            }
            if keyed:
                items.append(event)
            else:
                event_id = f"{self.run_id}-{n}-{i}"
                ids.append(event_id)
                body = {k2: v for k2, v in event.items() if k2 not in ("source", "asset_id")}
                items.append(
                    {
                        "source": "drill",
                        "asset_id": event["asset_id"],
                        "event_id": event_id,
                        "body": {"kind": "event", **body},
                    }
                )
        at = self.t0 + timedelta(seconds=n)
        samples = [{"name": m, "value": float(n % 97), "at": at.isoformat()} for m in METRICS]
        metrics: dict[str, Any] = {
            "source": "drill",
            "asset_id": self.asset(n),
            "body": {"kind": "metrics", "samples": samples},
        }
        if not keyed:
            metrics["event_id"] = f"{self.run_id}-{n}-m"
            ids.append(metrics["event_id"])
        items.append(metrics)
        headers = {"Idempotency-Key": f"{self.run_id}-{n}"} if keyed else {}
        return headers, items, ids

    def client(self) -> httpx.AsyncClient:
        """An HTTP client of the API with the load's credentials."""
        return httpx.AsyncClient(base_url=self.api, timeout=self.timeout, headers=self.headers)

    async def send(self, client: httpx.AsyncClient, n: int) -> None:
        """Send request `n` (again and again while `retry` says so); record the outcome."""
        headers, body, ids = self.request(n)
        deadline = time.monotonic() + self.give_up_after
        while True:
            self.ledger.requests += 1
            started = time.monotonic()
            try:
                r = await client.post("/api/v1/events", json=body, headers=headers)
                status, answer = r.status_code, (r.json() if r.content else {})
            except httpx.HTTPError:
                status, answer = 0, {"appended": "unknown"}
            self.ledger.slowest = max(self.ledger.slowest, time.monotonic() - started)
            self.ledger.statuses[status] += 1
            if status == 202:
                *events, metrics = answer["ids"]  # the last item is the metrics observation
                self.ledger.events.update(events)
                self.ledger.metric_observations.add(metrics)
                self.ledger.samples += len(body[-1]["body"]["samples"])
                return
            if 400 <= status < 500 and status != 429:
                raise AssertionError(f"request {n} refused with {status}: {answer}")
            if not self.retry or time.monotonic() > deadline:
                events = (ids or [])[:-1]  # only requests with their own ids are sent once
                if answer.get("appended") is False:
                    self.ledger.not_appended.update(events)
                else:
                    self.ledger.unknown.update(events)
                return
            self.ledger.retries += 1
            await asyncio.sleep(0.5)

    async def run(self, first: int, count: int, rate: float, concurrency: int = 4) -> None:
        """Send requests `first` … `first + count - 1`, starting `rate` requests per second."""
        gate = asyncio.Semaphore(concurrency)
        async with self.client() as client:

            async def one(n: int) -> None:
                async with gate:
                    await self.send(client, n)

            tasks = []
            start = time.monotonic()
            for i in range(count):
                if self._stopped:
                    break
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(first + i)))
            await asyncio.gather(*tasks)
