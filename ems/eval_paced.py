"""`ems eval`'s HTTP side of posting: in one burst, or at a steady rate while a poller watches the
incidents (the pure parts, schedule and delays, are in `ems.eval_delays`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import orjson

from ems.eval_delays import Key, Sightings, due
from ems.schemas.observation import Observation

CHUNK = 1000  # alerts per POST (the API's batch limit)
PAGE = 200  # incidents per list page while polling (more than one scenario's incidents)


def key_of(o: Observation) -> Key:
    """The episode an alert opens, as the ground truth and the members name it."""
    return (o.asset_id, o.body.event, o.occurred_at)


def chunks(raws: list[bytes], max_bytes: int) -> Iterator[bytes]:
    """JSON array bodies of at most CHUNK items and `max_bytes`, in order."""
    chunk: list[bytes] = []
    size = 2
    for raw in raws:
        if chunk and (len(chunk) == CHUNK or size + len(raw) + 1 > max_bytes):
            yield b"[" + b",".join(chunk) + b"]"
            chunk, size = [], 2
        chunk.append(raw)
        size += len(raw) + 1
    if chunk:
        yield b"[" + b",".join(chunk) + b"]"


def post(client: httpx.Client, items: list[Observation], max_bytes: int) -> None:
    """POST the alerts in order, in as few requests as the limits allow."""
    raws = [orjson.dumps(o.model_dump(mode="json")) for o in items]
    for body in chunks(raws, max_bytes):
        r = client.post("/api/v1/events", content=body, headers={"Content-Type": "application/json"})
        if r.status_code != 202:
            raise SystemExit(f"POST /api/v1/events answered {r.status_code}: {r.text[:500]}")


def post_paced(
    client: httpx.Client, items: list[Observation], rate: float, tick: float, max_bytes: int
) -> tuple[dict[Key, float], float]:
    """Post the alerts (in event-time order) at `rate` a minute: every `tick` s, those due. Returns
    the wall time (monotonic) each episode-opening alert was sent, and the posting's duration."""
    posted: dict[Key, float] = {}
    start = time.monotonic()
    sent, ticks = 0, 0
    while sent < len(items):
        now = time.monotonic()
        n = due(now - start, rate, len(items))
        if n > sent:
            post(client, items[sent:n], max_bytes)
            for o in items[sent:n]:
                posted.setdefault(key_of(o), now)
            sent = n
        ticks += 1
        time.sleep(max(0.0, start + ticks * tick - time.monotonic()))
    return posted, time.monotonic() - start


class Poller(threading.Thread):
    """Every `interval` s: lists the incidents by latest update, re-reads those whose version changed
    (until a page holds none) and notes when each episode was first seen in each incident."""

    def __init__(self, make_client: Callable[[], httpx.Client], interval: float) -> None:
        super().__init__(name="eval-poller", daemon=True)
        self.make_client = make_client
        self.interval = interval
        self.seen = Sightings()
        self.versions: dict[str, int] = {}
        self.polls = 0
        self.error: BaseException | None = None
        self._done = threading.Event()

    def stop(self) -> None:
        """Finish after one last full look (every page)."""
        self._done.set()
        self.join()
        if self.error is not None:
            raise SystemExit(f"ems eval: watching the incidents failed: {self.error}")

    def run(self) -> None:
        try:
            with self.make_client() as client:
                while True:
                    last = self._done.is_set()
                    started = time.monotonic()
                    self.look(client, every_page=last)
                    if last:
                        return
                    self._done.wait(max(0.0, self.interval - (time.monotonic() - started)))
        except Exception as exc:  # reported by stop()
            self.error = exc

    def look(self, client: httpx.Client, every_page: bool = False) -> None:
        changed: list[tuple[str, int]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": PAGE, "sort": "-updated_at"}
            if cursor:
                params["cursor"] = cursor
            r = client.get("/api/v1/incidents", params=params)
            r.raise_for_status()
            body = r.json()
            fresh = [
                (i["incident_id"], i["version"])
                for i in body["incidents"]
                if self.versions.get(i["incident_id"]) != i["version"]
            ]
            changed += fresh
            cursor = body.get("next_cursor")
            if not cursor or not (fresh or every_page):
                break
        for incident_id, version in changed:
            r = client.get(f"/api/v1/incidents/{incident_id}")
            if r.status_code == 404:
                continue
            r.raise_for_status()
            at = time.monotonic()
            keys = [
                (m["asset_id"], m["event"], datetime.fromisoformat(m["opened_at"]))
                for m in r.json()["members"]
                if m["left_at"] is None
            ]
            self.seen.saw(incident_id, keys, at)
            self.versions[incident_id] = version
        self.polls += 1
