"""Rate limits of the route table: who is charged, how much, and the 429 when the budget is spent.

The key is the authenticated principal (`user:<name>`, `key:<id>`), or the client address for
anonymous calls; never a header the client chooses.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request

from ems.api.errors import ApiError
from ems.api.ratelimit import RateLimiter
from ems.settings import Settings


class Limits:
    """Charges requests against the caller's budget (shared by every API process through Redis)."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.limiter = RateLimiter(redis, settings.rate_limit_per_minute)
        self.settings = settings

    @staticmethod
    def key(request: Request, principal: Any) -> str:
        if principal is not None:
            kind = getattr(principal, "kind", "user")
            ident = getattr(principal, "key_id", None) or principal.name
            return f"{kind}:{ident}"
        return f"ip:{request.client.host if request.client else '-'}"

    async def charge(self, request: Request, endpoint: Any, principal: Any, cost: int) -> None:
        allowed, remaining, reset = await self.limiter.hit(self.key(request, principal), cost)
        if not allowed:
            raise ApiError(
                429,
                f"rate limit of {self.settings.rate_limit_per_minute} requests per minute exceeded",
                headers={"Retry-After": str(reset)},
            )
