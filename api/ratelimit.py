"""Request rate limits in Redis: GCRA (generic cell rate algorithm), shared by every API process.

A `Limit(per_minute, burst)` lets a caller make `burst` requests at once (default: `per_minute`) and
then one every `60 / per_minute` seconds; a request may cost several cells (a batch of N events costs
N). Redis keeps one number per key, the theoretical arrival time (TAT), updated by one Lua script
(`GCRA_SCRIPT`, EVALSHA with EVAL when Redis answers NOSCRIPT) that reads the time from Redis itself
(`TIME`), so every API host judges by the same clock. `gcra()` is the same arithmetic in Python: the
integration tests run both on the same inputs and compare.

Redis is a cache here, not a dependency of the API: when it cannot be reached within its client's
short timeout, the request is let through (not limited), counted in `ems_api_ratelimit_unavailable`
and logged at most once per `OutageLog.every` seconds (plus one line when Redis answers again); for
`retry_interval` seconds after a failure Redis is not asked at all, so an outage costs requests no
time. Such a decision has `counted=False` and no RateLimit headers. A Redis outage therefore lifts
the limits: brute-force protection of the login included, until Redis is back.

Which limit and which key apply to a request is `ems.api.ratepolicy`'s decision.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from ems.api.errors import ApiError

log = logging.getLogger(__name__)
UNCOUNTED = Counter(
    "ems_api_ratelimit_unavailable", "Request cells (events of a batch) let through: Redis was unreachable"
)
MICROS = 1_000_000
MAX_PER_MINUTE = 60 * MICROS  # one cell per microsecond: the script's resolution
MAX_BURST = 10_000_000  # keeps every product of the arithmetic below 2**53 (exact in Lua's doubles)


@dataclass(frozen=True)
class Limit:
    """`per_minute` cells per minute on average, at most `burst` (default: `per_minute`) at once."""

    per_minute: int
    burst: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.per_minute <= MAX_PER_MINUTE:
            raise ValueError(f"per_minute must be within 1..{MAX_PER_MINUTE}, not {self.per_minute}")
        if self.burst is not None and not 1 <= self.burst <= MAX_BURST:
            raise ValueError(f"burst must be within 1..{MAX_BURST}, not {self.burst}")

    @property
    def capacity(self) -> int:
        """Cells that may be spent at once (the RateLimit-Limit header)."""
        return self.per_minute if self.burst is None else self.burst

    @property
    def emission_us(self) -> int:
        """Microseconds between two cells (whole microseconds, the same in Python and in Lua)."""
        return max(1, round(60 * MICROS / self.per_minute))


@dataclass(frozen=True)
class Cell:
    """What the GCRA script answers, in microseconds: `retry_after_us` is 0 when allowed and -1
    when the cost exceeds the burst (never allowed); `tat_us` is the TAT stored (None: unchanged)."""

    allowed: bool
    remaining: int
    reset_after_us: int
    retry_after_us: int
    tat_us: int | None


def gcra(tat_us: int | None, now_us: int, emission_us: int, burst: int, cost: int) -> Cell:
    """One GCRA step, the arithmetic of `GCRA_SCRIPT` line by line (float division as in Lua)."""
    tau = emission_us * burst
    tat = now_us if tat_us is None or tat_us < now_us else tat_us
    increment = emission_us * cost
    new_tat = tat + increment
    diff = now_us - (new_tat - tau)
    if diff < 0:
        remaining = max(0, math.floor((now_us - (tat - tau)) / emission_us))
        retry = -1 if increment > tau else -diff
        return Cell(False, remaining, tat - now_us, retry, None)
    return Cell(True, math.floor(diff / emission_us), new_tat - now_us, 0, new_tat)


# KEYS[1]: the TAT (µs). ARGV: emission interval (µs), burst, cost, and `now` (µs) for tests only.
GCRA_SCRIPT = """
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now
if ARGV[4] and ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tau = emission * burst
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local increment = emission * cost
local new_tat = tat + increment
local diff = now - (new_tat - tau)
if diff < 0 then
  local remaining = math.max(0, math.floor((now - (tat - tau)) / emission))
  local retry = -diff
  if increment > tau then retry = -1 end
  return {0, remaining, tat - now, retry}
end
local ttl = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl))
return {1, math.floor(diff / emission), new_tat - now, 0}
"""
GCRA_SHA = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()


async def run_gcra(redis: Redis, key: str, limit: Limit, cost: int, now_us: int | None = None) -> Cell:
    """Run the script on `key` (EVALSHA; EVAL once the script cache lacks it). `now_us` replaces
    Redis's clock: for tests comparing the script with `gcra()`."""
    args: list[Any] = [limit.emission_us, limit.capacity, cost, "" if now_us is None else now_us]
    try:
        out = await redis.evalsha(GCRA_SHA, 1, key, *args)
    except NoScriptError:  # a restarted or flushed Redis; EVAL caches the script again
        out = await redis.eval(GCRA_SCRIPT, 1, key, *args)
    allowed, remaining, reset_us, retry_us = (int(v) for v in out)
    return Cell(bool(allowed), remaining, reset_us, retry_us, None)


@dataclass(frozen=True)
class Decision:
    """The verdict on one request; times in seconds. `retry_after` is 0 when allowed and infinite
    when the cost can never fit the burst; `counted` is False when Redis was unreachable."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float
    counted: bool = True

    @property
    def never(self) -> bool:
        """The request costs more than the burst: no wait lets it through."""
        return math.isinf(self.retry_after)

    def headers(self) -> dict[str, str]:
        """RateLimit-Limit/-Remaining/-Reset (IETF draft, whole seconds) and, when refused, Retry-After."""
        if not self.counted:
            return {}
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_after)),
        }
        if not self.allowed and not self.never:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return out


class RateLimited(ApiError):
    """A refused request: 429 with Retry-After, or 413 when its cost exceeds the burst (a batch too
    large for the caller's limit: waiting does not help, so no Retry-After, and clients such as
    Alertmanager do not retry it). Answered in the route's dialect by `ems.api.errors`."""

    def __init__(self, decision: Decision, limit: Limit, cost: int = 1) -> None:
        if decision.never:
            reason = (
                f"this request costs {cost} but the rate limit allows at most {limit.capacity} at once "
                f"({limit.per_minute} per minute): send at most {limit.capacity} items per request"
            )
            super().__init__(413, reason, headers=decision.headers())
        else:
            wait = max(1, math.ceil(decision.retry_after))
            reason = f"rate limit of {limit.per_minute} per minute exceeded; retry in {wait} s"
            super().__init__(429, reason, headers=decision.headers())
        self.decision = decision


class OutageLog:
    """Logs Redis misses without flooding: the first, then at most one line per `every` seconds
    with the number let through meanwhile, and one line when Redis answers again."""

    def __init__(self, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.down, self.missed, self.unlogged, self.logged_at = False, 0, 0, -math.inf

    def miss(self, reason: object) -> None:
        self.down = True
        self.missed += 1
        self.unlogged += 1
        now = self.clock()
        if now - self.logged_at >= self.every:
            log.warning(
                "rate limits not counted (Redis unavailable: %s); %d request(s) let through unlimited",
                reason,
                self.unlogged,
            )
            self.logged_at, self.unlogged = now, 0

    def answered(self) -> None:
        if self.down:
            log.warning(
                "Redis answers again: rate limits counted; %d request(s) were let through", self.missed
            )
            self.down, self.missed, self.unlogged, self.logged_at = False, 0, 0, -math.inf


class RateLimiter:
    """GCRA limits in Redis under `prefix:<key>` (see the module docstring for Redis outages)."""

    def __init__(
        self,
        redis: Redis,
        prefix: str = "ems:ratelimit",
        retry_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis, self.prefix, self.retry_interval, self.clock = redis, prefix, retry_interval, clock
        self.outage = OutageLog(clock=clock)
        self.skip_until, self.last_error = -math.inf, ""

    async def hit(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        """Spend `cost` cells of `limit` under `key` if they are available now."""
        if cost < 1:
            raise ValueError(f"cost must be at least 1, not {cost}")
        if self.clock() < self.skip_until:  # Redis failed a moment ago: not asked again yet
            return self._uncounted(limit, cost)
        try:
            cell = await run_gcra(self.redis, f"{self.prefix}:{key}", limit, cost)
        except (RedisError, OSError) as exc:
            self.skip_until = self.clock() + self.retry_interval
            self.last_error = f"{type(exc).__name__}: {exc}"
            return self._uncounted(limit, cost)
        self.outage.answered()
        return Decision(
            allowed=cell.allowed,
            limit=limit.capacity,
            remaining=cell.remaining,
            reset_after=cell.reset_after_us / MICROS,
            retry_after=math.inf if cell.retry_after_us < 0 else cell.retry_after_us / MICROS,
        )

    def _uncounted(self, limit: Limit, cost: int) -> Decision:
        UNCOUNTED.inc(cost)
        self.outage.miss(self.last_error)
        return Decision(True, limit.capacity, limit.capacity, 0.0, 0.0, counted=False)
