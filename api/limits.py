"""Rate limits of the route table: who is charged, how much, and the 429 when the budget is spent.

The key is the authenticated principal (`user:<name>`, `key:<id>`), or the client address for
anonymous calls (forwarded headers believed only from `EMS_TRUSTED_PROXIES`); never a header the
client chooses. Limits and their settings: `ems.api.ratepolicy`, docs/edge.md.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request

from ems.api.edge import client_address, networks
from ems.api.ratelimit import Decision, RateLimiter
from ems.api.ratepolicy import RatePolicy, Throttle
from ems.settings import Settings
from ems.streams.heartbeat import namespace


class Limits:
    """Charges requests against the caller's budget (shared by every API process through Redis)."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        # Per deployment (`ems:<app_id>`, as the heartbeats and sessions): two on one Redis share nothing.
        self.throttle = Throttle(RateLimiter(redis, f"{namespace(settings)}:ratelimit"), RatePolicy(settings))
        self.proxies = networks(settings.trusted_proxies)
        self.header = settings.forwarded_header

    async def charge(self, request: Request, endpoint: Any, principal: Any, cost: int) -> Decision:
        """Spend `cost`; raises `RateLimited` (429, or 413 for a batch over the whole burst)."""
        client = client_address(request, self.proxies, self.header)
        return await self.throttle.admit(principal, endpoint.id, client, cost)
