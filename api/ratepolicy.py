"""Which rate limit applies to a request, and under which key (`ems.api.ratelimit` counts them).

The key is the authenticated principal, `user:<name>` or `key:<key_id>`, never a header the client
chooses; a request without credentials is limited per client address (`addr:<ip>`, from
`ems.api.edge.client_address`; IPv6 per /64, since one host commonly holds a whole /64).

The limit, first match:

1. the principal's own `rate_limit_per_minute` (and optional `rate_limit_burst`) attribute, when set
   (an API key created with its own limit, e.g. a busy collector);
2. the route's entry in `EMS_RATE_LIMIT_ROUTES` (built in: `POST /api/v1/auth/login` 10 per minute
   per client address, against password guessing);
3. the role's entry in `EMS_RATE_LIMIT_ROLES`;
4. the default of the caller's kind: `EMS_RATE_LIMIT_USER_PER_MINUTE` (100) for users,
   `EMS_RATE_LIMIT_PER_MINUTE` (6000) for API keys, `EMS_RATE_LIMIT_ANONYMOUS_PER_MINUTE` (60)
   per address without credentials.

A route with an entry in `EMS_RATE_LIMIT_ROUTES` is counted apart (`route:<route id>|<key>`): ten
login attempts use up nothing else, and a collector's events do not starve its reads. Every other
route of a caller shares one budget. A batch costs its number of items (`Throttle.admit(cost=n)`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ems.api.ratelimit import Decision, Limit, RateLimited, RateLimiter
from ems.settings import Settings

LOGIN_ROUTE = "POST /api/v1/auth/login"
BUILT_IN_ROUTES = {LOGIN_ROUTE: 10}


@dataclass(frozen=True)
class Quota:
    """The limit of a request and the Redis key it is counted under (without the limiter's prefix)."""

    key: str
    limit: Limit


def address_key(client: str) -> str:
    """`addr:<ip>` for an address; IPv6 by its /64 network (IPv4-mapped IPv6 as IPv4)."""
    try:
        ip = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return f"addr:{client or 'unknown'}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"addr:{ip}"


def principal_key(principal: object) -> str:
    """`key:<key_id>` for an API key (its name when it has no id), `user:<name>` otherwise."""
    name = getattr(principal, "name", None)
    if getattr(principal, "kind", "user") == "key":
        return f"key:{getattr(principal, 'key_id', None) or name}"
    return f"user:{name}"


class RatePolicy:
    """Resolves the `Quota` of (principal or None, route id, client address); see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.routes = {**BUILT_IN_ROUTES, **settings.rate_limit_routes}
        self.roles = dict(settings.rate_limit_roles)
        self.user = settings.rate_limit_user_per_minute
        self.api_key = settings.rate_limit_per_minute
        self.anonymous = settings.rate_limit_anonymous_per_minute

    def resolve(self, principal: object | None, route_id: str, client: str) -> Quota:
        """`route_id` is "METHOD /path-template" (e.g. "GET /api/v1/alerts/{alert_id}"); `client` the
        address from `client_address`, used only when `principal` is None (no credentials)."""
        key = address_key(client) if principal is None else principal_key(principal)
        limit = self.limit_for(principal, route_id)
        return Quota(f"route:{route_id}|{key}" if route_id in self.routes else key, limit)

    def limit_for(self, principal: object | None, route_id: str) -> Limit:
        own = getattr(principal, "rate_limit_per_minute", None)
        if own is not None:
            return Limit(int(own), getattr(principal, "rate_limit_burst", None))
        if route_id in self.routes:
            return Limit(self.routes[route_id])
        if principal is None:
            return Limit(self.anonymous)
        role = getattr(principal, "role", None)
        if role is not None and role in self.roles:
            return Limit(self.roles[role])
        return Limit(self.api_key if getattr(principal, "kind", "user") == "key" else self.user)


class Throttle:
    """A policy and a limiter together: what a route wrapper calls before doing the work."""

    def __init__(self, limiter: RateLimiter, policy: RatePolicy) -> None:
        self.limiter, self.policy = limiter, policy

    async def admit(self, principal: object | None, route_id: str, client: str, cost: int = 1) -> Decision:
        """Spend `cost` of the caller's budget; raise `RateLimited` (429/413) when it is not there.
        The returned decision's `headers()` belong on the response."""
        quota = self.policy.resolve(principal, route_id, client)
        decision = await self.limiter.hit(quota.key, quota.limit, cost)
        if not decision.allowed:
            raise RateLimited(decision, quota.limit, cost)
        return decision
