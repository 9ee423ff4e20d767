"""Fixed-window write rate limit per client, counted in Redis (shared by every API instance).

Redis is a cache here, not a dependency of ingest: when it cannot be reached within its short
timeout, writes are let through (not limited) and the miss is counted and logged, so a Redis outage
never turns into lost alerts. `/health` reports Redis as down meanwhile.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
UNCOUNTED = Counter("ems_api_ratelimit_unavailable", "Writes let through because Redis was unreachable")


class RateLimiter:
    """Allows `per_minute` writes per client key per wall-clock minute."""

    def __init__(self, redis: Redis, per_minute: int, prefix: str = "ems:ratelimit") -> None:
        self.redis, self.per_minute, self.prefix = redis, per_minute, prefix

    async def hit(self, client: str, cost: int = 1) -> tuple[bool, int | None, int]:
        """Count `cost` writes; return (allowed, remaining or None if unknown, seconds until reset)."""
        window = int(time.time() // 60)
        key = f"{self.prefix}:{client}:{window}"
        reset = 60 - int(time.time() % 60)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, cost)
                pipe.expire(key, 120)
                used, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            UNCOUNTED.inc(cost)
            log.warning("rate limit not counted (Redis unavailable: %s); letting the write through", exc)
            return True, None, reset
        return used <= self.per_minute, max(0, self.per_minute - used), reset
