"""Fixed-window write rate limit per client, counted in Redis (shared by every API instance)."""

from __future__ import annotations

import time

from redis.asyncio import Redis


class RateLimiter:
    """Allows `per_minute` writes per client key per wall-clock minute."""

    def __init__(self, redis: Redis, per_minute: int, prefix: str = "ems:ratelimit") -> None:
        self.redis, self.per_minute, self.prefix = redis, per_minute, prefix

    async def hit(self, client: str, cost: int = 1) -> tuple[bool, int, int]:
        """Count `cost` writes; return (allowed, remaining, seconds until the window resets)."""
        window = int(time.time() // 60)
        key = f"{self.prefix}:{client}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, cost)
            pipe.expire(key, 120)
            used, _ = await pipe.execute()
        reset = 60 - int(time.time() % 60)
        return used <= self.per_minute, max(0, self.per_minute - used), reset
