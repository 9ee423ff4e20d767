"""Stage heartbeats in Redis: workers publish what their stages do, the API reads them for `/health`.

Layout, under the namespace `ems:<app_id>` (one per pipeline):
- `<ns>:hb:<stage>:<instance>` — the stage's last status as JSON (`StageStatus.snapshot`), written
  every `heartbeat_interval` s with a TTL of five intervals: a killed or hung process's entry
  disappears by itself;
- `<ns>:instances` — a set of those keys (entries whose key expired are pruned by the reader);
- `<ns>:stages` — a hash stage -> last time any instance of it reported: the stages the pipeline
  is expected to run (forgotten after `health_forget_after` s of silence).
A clean stop deletes the process's own keys; the stage stays expected, so `/health` says nobody
runs it. Writes are best-effort with a 1 s timeout: without Redis the pipeline keeps going and
`/health` reports Redis itself as down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

import orjson
from redis.asyncio import BlockingConnectionPool, Redis

from ems.settings import Settings
from ems.streams.stage_status import INSTANCE, StageStatus, all_statuses

log = logging.getLogger(__name__)
TTL_INTERVALS = 5


def namespace(settings: Settings) -> str:
    """The Redis key prefix of one pipeline's heartbeats."""
    return f"ems:{settings.app_id}"


def redis_client(settings: Settings, timeout: float = 1.0, connections: int = 64) -> Redis:
    """A Redis client that gives up after `timeout` s instead of blocking its caller. Beyond
    `connections` calls in flight, callers wait (up to `timeout`) for a connection instead of
    failing at once (a burst of authenticated requests must not turn into 503s)."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url.get_secret_value(),
        max_connections=connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return Redis.from_pool(pool)  # closing the client closes its pool


class Heartbeat:
    """Publishes every stage status of this process until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ns = namespace(settings)
        self.interval = settings.heartbeat_interval
        self.redis = redis_client(settings)
        # Set by the supervisor (ems.supervise) in the environment of the process it restarts.
        self.process_restarts = int(os.environ.get("EMS_SUPERVISED_RESTARTS", "0") or 0)
        last_exit = os.environ.get("EMS_SUPERVISED_LAST_EXIT")
        self.last_exit = int(last_exit) if last_exit else None
        self._stopping = asyncio.Event()

    def statuses(self) -> list[StageStatus]:
        return all_statuses()

    def stop(self) -> None:
        self._stopping.set()

    async def beat(self) -> None:
        """Write every status once (raises when Redis is unreachable)."""
        ttl = max(1, int(self.interval * TTL_INTERVALS))
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for status in self.statuses():
                key = f"{self.ns}:hb:{status.stage}:{INSTANCE}"
                record = status.snapshot(self.process_restarts, self.last_exit)
                pipe.set(key, orjson.dumps(record), ex=ttl)
                pipe.sadd(f"{self.ns}:instances", key)
                pipe.hset(f"{self.ns}:stages", status.stage, now)
            await pipe.execute()

    async def run(self) -> None:
        """Beat every `interval` s until `stop()`; then remove this process's entries."""
        try:
            while not self._stopping.is_set():
                try:
                    await self.beat()
                except Exception as exc:  # noqa: BLE001 - best effort: Redis may be away
                    log.warning("heartbeat not written: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.interval)
        finally:
            await self.farewell()

    async def farewell(self) -> None:
        """Delete this process's heartbeats (a clean stop is not a death)."""
        keys = [f"{self.ns}:hb:{s.stage}:{INSTANCE}" for s in self.statuses()]
        with contextlib.suppress(Exception):
            if keys:
                await self.redis.delete(*keys)
                await self.redis.srem(f"{self.ns}:instances", *keys)
        with contextlib.suppress(Exception):
            await self.redis.aclose()


async def read_heartbeats(redis: Redis, ns: str) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """(stage -> last time reported, live instance statuses) of one pipeline."""
    keys = sorted(k.decode() if isinstance(k, bytes) else k for k in await redis.smembers(f"{ns}:instances"))
    values = await redis.mget(keys) if keys else []
    live, gone = [], []
    for key, value in zip(keys, values, strict=True):
        if value is None:
            gone.append(key)
        else:
            live.append(orjson.loads(value))
    if gone:
        await redis.srem(f"{ns}:instances", *gone)
    seen = {
        (k.decode() if isinstance(k, bytes) else k): float(v)
        for k, v in (await redis.hgetall(f"{ns}:stages")).items()
    }
    return seen, live
